"""Start-up verdicts over a deployment's recorded starts (pure over rows from the runs table).

A warm start (its compile cache was kept) must give the engine the same KV-cache capacity as the
deployment's earlier warm starts with the same configuration: vLLM can count a first compile's
scratch memory as activation peak and hand the KV cache tens of GiB less until the next restart
(vLLM issue 54122), which shows as fewer tokens in the start-up log, not as an error.
"""

from __future__ import annotations

from dataclasses import dataclass

WARM_CACHE = ("hit", "kept")

WARM_CAPACITY_SQL = """
SELECT kv_cache_tokens, run_id, finished_at
FROM runs
WHERE partition = ? AND config_hash = ? AND kv_cache_tokens IS NOT NULL
  AND compile_cache IN ('hit', 'kept') AND NOT coalesce(service_reused, false)
ORDER BY finished_at DESC
LIMIT ?
"""


@dataclass(frozen=True)
class CapacityVerdict:
    passed: bool
    description: str
    baseline_tokens: int | None


def kv_capacity_verdict(tokens: int | None, warm_tokens: list[int]) -> CapacityVerdict:
    """This start's KV-cache tokens against the largest of the deployment's recent warm starts."""
    if tokens is None:
        return CapacityVerdict(True, "the start-up log reported no KV-cache capacity", None)
    if not warm_tokens:
        return CapacityVerdict(True, f"{tokens:,} KV-cache tokens; no earlier warm start of this configuration "
                                     "to compare with", None)
    baseline = max(warm_tokens)
    if tokens < baseline:
        return CapacityVerdict(
            False, f"{tokens:,} KV-cache tokens, {1 - tokens / baseline:.1%} fewer than the {baseline:,} of this "
                   "configuration's warm starts: a first compile can take memory the KV cache then lacks until the "
                   "next restart (vLLM issue 54122): restart the server (its compile cache is warm now) and run again", baseline)
    return CapacityVerdict(True, f"{tokens:,} KV-cache tokens, as many as this configuration's warm starts "
                                 f"({baseline:,})", baseline)
