"""The hardware report as the next assets receive it: the fingerprint and the facts a result row records."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class HardwareSnapshot:
    fingerprint: str
    nvidia_driver_present: bool
    facts: dict = field(default_factory=dict)  # the report as a dict (GPUs, driver, host), as stored in DuckDB

    def gpus_used(self, gpu_ids: list[int]) -> list[dict]:
        """The report's facts of the GPUs a deployment occupies (``requirements.used_gpu_ids``)."""
        by_index = {gpu.get("index"): gpu for gpu in self.facts.get("gpus") or []}
        return [by_index[i] for i in gpu_ids if i in by_index]

    @property
    def driver_version(self) -> str | None:
        return self.facts.get("driver_version")
