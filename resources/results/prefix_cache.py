"""How many prefix-cache hits a result's workload implies, and a flag when it had more (pure).

vLLM's counters (``vllm:prefix_cache_hits_total`` / ``_queries_total``, in prompt tokens) are read
before and after each load point, so a result's hit rate covers everything ``vllm bench serve``
sent, its warm-ups included. Two facts of vLLM's bound it:

- Its warm-ups repeat the point's first prompt (``input_requests[0]`` in
  ``vllm/benchmarks/serve.py``): with 2 warm-ups and 16 prompts, the second warm-up and the first
  measured request find that whole prompt cached, 2 of 18 prompts, about 11 %. That is the 10 % an
  H100 ladder on the random dataset showed at every level.
- It caches whole blocks (``block_size`` in its ``cache_config_info``: 16 tokens on GPUs, 128 on
  its CPU build) and always computes a prompt's last token: a prompt of n tokens can hit at most
  ``(n - 1)`` rounded down to a block, and a shared prefix shorter than a block hits nothing.

The bound per workload, from the point's own prompt lengths (vLLM's ``input_lens``):
- random: the warm-ups' repeats of the first prompt, nothing else;
- shared_prefix: those, plus each prompt's shared prefix (``prefix_len`` and a start-of-text token)
  once its group's first prompt was sent;
- trace: those, plus each request's leading blocks an earlier request of the trace already sent;
- multi_turn: each turn's prompt can find the previous turn's prompt and reply (turn 1: no bound).

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
DEFAULT_BLOCK = 16  # vLLM's GPU default, where the server did not report its block size


def cached(tokens: int, block: int) -> int:
    """The tokens of a cached run of ``tokens`` that vLLM can serve: whole blocks only."""
    return max(0, tokens) // block * block


def implied_hit_rate(
    scenario: BenchmarkScenario,
    input_lens: list[int] | None = None,
    block: int | None = None,
    leading_repeats: list[int] | None = None,
) -> float | None:
    """The most prefix-cache hits, as a share of prompt tokens, the point's requests allow.
    ``leading_repeats``: per request, the tokens at its start an earlier request already sent (a
    trace's shared blocks; a conversation's history)."""
    block = block or DEFAULT_BLOCK
    lens = [n for n in (input_lens or []) if n] or [scenario.input_len] * scenario.num_prompts
    warmups, first = scenario.warmups, lens[0]
    queries = warmups * first + sum(lens)
    hits = warmups * cached(first - 1, block)  # warm-ups 2..W and the first measured prompt
    workload = scenario.workload
    if workload.kind == "shared_prefix":
        groups = min(workload.num_prefixes, len(lens))
        shared = cached(workload.prefix_len + 1, block)
        hits += sum(min(shared, cached(n - 1, block)) for n in sorted(lens)[groups:])
    elif leading_repeats is not None:
        hits += sum(min(cached(r, block), cached(n - 1, block)) for r, n in zip(leading_repeats, lens))
    return hits / queries if queries else None


def prefix_cache_flag(measured: float | None, implied: float | None) -> str | None:
    """The reason a result's hit rate is suspicious, or None."""
    if measured is None or implied is None or measured <= implied + MARGIN:
        return None
    return (
        f"prefix-cache hits {100 * measured:.0f} % of prompt tokens where the workload implies at most "
        f"{100 * implied:.0f} % (vLLM's warm-ups repeat the first prompt; the rest should be new): "
        "prompts repeated from elsewhere, e.g. a pinned seed on a server kept from an earlier run"
    )
