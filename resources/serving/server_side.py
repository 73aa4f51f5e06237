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
        # Not a column: how many tokens one prefix-cache block holds (16 on GPUs, 128 on vLLM's CPU
        # build), which bounds the hits a workload can have (resources/results/prefix_cache.py).
        "cache_block_size": cache_block_size(after),
    }


def cache_block_size(text: str) -> int | None:
    """The KV-cache block size vLLM reports in its ``cache_config_info`` gauge's labels."""
    for sample in parse_samples(text):
        if sample.name == "vllm:cache_config_info" and sample.labels.get("block_size", "").isdigit():
            return int(sample.labels["block_size"])
    return None
