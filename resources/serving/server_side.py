"""What vLLM itself saw during one benchmark: the change in its own ``/metrics`` counters.

Read before and after a scenario (pure below ``fetch_metrics``): prefix-cache hits against
queries (a warm cache inflates throughput), preemptions (the KV cache ran out and requests were
evicted and recomputed), the mean time requests waited in vLLM's queue, and the KV-cache usage
and waiting requests when the benchmark ended. They explain a result from the server's side.
"""

from __future__ import annotations

from resources.serving.server_metrics import histogram_totals, parse_samples


def _counter(text: str, name: str) -> float | None:
    values = [s.value for s in parse_samples(text) if s.name == name]
    return sum(values) if values else None


def server_side_delta(before: str | None, after: str | None) -> dict:
    """Columns for the result row; empty when either scrape is missing."""
    if not before or not after:
        return {}

    def delta(name):
        a, b = _counter(before, name), _counter(after, name)
        return None if a is None or b is None else b - a

    hits, queries = delta("vllm:prefix_cache_hits_total"), delta("vllm:prefix_cache_queries_total")
    queue = histogram_totals(after, "vllm:request_queue_time_seconds")
    queue_before = histogram_totals(before, "vllm:request_queue_time_seconds")
    waited = (queue - queue_before).mean if queue is not None and queue_before is not None else None
    return {
        "prefix_cache_hit_rate": hits / queries if hits is not None and queries else None,
        "preemptions": delta("vllm:num_preemptions_total"),
        "mean_queue_time_ms": waited * 1000 if waited is not None else None,
        "kv_cache_usage_end": _counter(after, "vllm:kv_cache_usage_perc"),
        "requests_waiting_end": _counter(after, "vllm:num_requests_waiting"),
    }
