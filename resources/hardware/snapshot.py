"""The hardware report as the next assets receive it: the fingerprint and the facts a result row records."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class HardwareSnapshot:
    fingerprint: str
    nvidia_driver_present: bool
    facts: dict = field(default_factory=dict)  # the report as a dict (GPUs, driver, host), as stored in DuckDB

    def gpus_used(self, count: int) -> list[dict]:
        """The first ``count`` GPUs of the report: the ones a deployment of that size occupies."""
        return list((self.facts.get("gpus") or [])[:count])

    @property
    def driver_version(self) -> str | None:
        return self.facts.get("driver_version")
