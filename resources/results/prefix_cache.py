"""How many prefix-cache hits a result's workload implies, and a flag when it had more (pure).

vLLM's counters (``vllm:prefix_cache_hits_total`` / ``_queries_total``, in prompt tokens) are read
before and after each load point, so a result's hit rate covers everything ``vllm bench serve``
sent, its warm-ups included. And vLLM's warm-ups repeat the point's first prompt
(``input_requests[0]`` in ``vllm/benchmarks/serve.py``): with 2 warm-ups and 16 prompts, the second
warm-up and the first measured request find the whole prompt cached, 2 of 18 prompts, about 11 %.
That is the 10 % an H100 ladder on the random dataset showed at every level.

The bound per workload, as a share of prompt tokens:
- random: ``W / (W + N)`` with ``W`` warm-ups (0 without), every other prompt its own tokens;
- shared_prefix: the warm-ups' repeats, plus each prompt's shared prefix once its group's first
  prompt has been sent;
- trace: the blocks an earlier request of the trace already sent (``Trace.repeated_block_share``),
  plus the warm-ups' repeats.

A hit rate more than ``MARGIN`` above its bound is flagged: something else repeated prompts (a
pinned seed on a server kept from the last run, a prompt shared by accident), and the numbers
measure a warmer cache than the workload has. The prefix cache is not reset between load points:
vLLM serves ``/reset_prefix_cache`` only in its development mode (``VLLM_SERVER_DEV_MODE=1``), which
opens its other development and RL endpoints too; per-run seeds keep one point's prompts from the
next point's instead.
"""

from __future__ import annotations

from resources.config.models import BenchmarkScenario

MARGIN = 0.05


def implied_hit_rate(scenario: BenchmarkScenario, trace_repeated_share: float | None = None) -> float:
    warmups, prompts, length = scenario.warmups, scenario.num_prompts, scenario.input_len
    sent = warmups + prompts
    repeats = warmups  # warm-ups 2..W and the first measured prompt find the whole prompt cached
    workload = scenario.workload
    if workload.kind == "shared_prefix":
        groups = min(workload.num_prefixes, prompts)
        prefixed = max(0, prompts - groups) * workload.prefix_len
        return (repeats * length + prefixed) / (sent * length)
    if workload.kind == "trace":
        return min(1.0, (trace_repeated_share or 0.0) + repeats / sent)
    return repeats / sent


def prefix_cache_flag(measured: float | None, implied: float) -> str | None:
    """The reason a result's hit rate is suspicious, or None."""
    if measured is None or measured <= implied + MARGIN:
        return None
    return (
        f"prefix-cache hits {100 * measured:.0f} % of prompt tokens where the workload implies at most "
        f"{100 * implied:.0f} % (vLLM's warm-ups repeat the first prompt; the rest should be new): "
        "prompts repeated from elsewhere, e.g. a pinned seed on a server kept from an earlier run"
    )
