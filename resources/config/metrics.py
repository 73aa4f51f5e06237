"""The one list of metrics: names, labels, units, which direction is better, and where the
per-request values behind each one live.

Everything that names a metric (the bench JSON parser, the store, the regression rule, the
deployment's regression policy, the report) reads it from here. It sits beside the config
models because a deployment's regression policy names metrics and sets their default thresholds:
the config is the layer every other package already builds on. Definitions follow vLLM's
``vllm bench serve``: TTFT is the time to the first streamed chunk; TPOT is (latency - TTFT) /
(output tokens - 1) per request; ITL is the gaps between chunks, pooled over requests; E2EL is
the request's latency.
"""

from __future__ import annotations

from dataclasses import dataclass

LATENCIES = ("ttft", "tpot", "itl", "e2el")
STATS = ("mean", "median", "p99")
_LATENCY_LABELS = {"ttft": "TTFT", "tpot": "TPOT", "itl": "ITL", "e2el": "E2EL"}
# The per-request column (table benchmark_requests) each latency's distribution is drawn from.
_PER_REQUEST = {"ttft": "ttft_ms", "tpot": "tpot_ms", "itl": "itl_mean_ms", "e2el": "latency_ms"}


@dataclass(frozen=True)
class Metric:
    name: str  # the column in benchmark_results, e.g. "median_tpot_ms"
    label: str  # what the report prints, e.g. "median TPOT"
    unit: str
    higher_is_better: bool
    per_request: str | None = None  # column of benchmark_requests holding its per-request values
    needs_streaming: bool = False  # TPOT and ITL are only measured when the reply really streamed

    @property
    def statistic(self) -> str | None:
        """mean / median / p99 for a latency summary; None for a throughput."""
        head = self.name.split("_", 1)[0]
        return head if self.unit == "ms" else None

    def worse_change(self, change: float) -> float:
        """A relative change turned so that positive is worse: +0.2 = 20 % worse."""
        return -change if self.higher_is_better else change


def _latency(stat: str, kind: str) -> Metric:
    return Metric(
        f"{stat}_{kind}_ms",
        f"{stat} {_LATENCY_LABELS[kind]}",
        "ms",
        higher_is_better=False,
        per_request=_PER_REQUEST[kind],
        needs_streaming=kind in ("tpot", "itl"),
    )


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("output_throughput", "output throughput", "tok/s", higher_is_better=True),
        Metric("request_throughput", "request throughput", "req/s", higher_is_better=True),
        Metric("total_token_throughput", "total token throughput", "tok/s", higher_is_better=True),
        Metric("request_goodput", "goodput", "req/s", higher_is_better=True),
        *(_latency(stat, kind) for kind in LATENCIES for stat in STATS),
    )
}
# A server's start: its total and each phase vLLM's log shows (resources/serving/startup_log.py),
# judged by the same rule as the benchmark's metrics, one value per start.
STARTUP_PHASES = (
    "api_server",
    "engine_init",
    "distributed_init",
    "weights_loading",
    "weights_loaded",
    "torch_compile",
    "kv_cache",
    "graph_capture",
    "engine_ready",
)
STARTUP_METRICS = ("startup_s", *(f"startup_{phase}_s" for phase in STARTUP_PHASES))
METRICS.update({"startup_s": Metric("startup_s", "start-up to healthy", "s", higher_is_better=False)})
METRICS.update(
    {
        f"startup_{phase}_s": Metric(f"startup_{phase}_s", f"start-up phase {phase}", "s", higher_is_better=False)
        for phase in STARTUP_PHASES
    }
)
LATENCY_METRICS = tuple(name for name, m in METRICS.items() if m.unit == "ms")
THROUGHPUT_METRICS = ("request_throughput", "output_throughput", "total_token_throughput")
# Metrics a regression policy may name (goodput exists only with SLOs).
REGRESSION_METRICS = THROUGHPUT_METRICS + LATENCY_METRICS
DEFAULT_THRESHOLDS = {"median_tpot_ms": 0.10, "p99_ttft_ms": 0.10, "output_throughput": 0.10}


def metric(name: str) -> Metric:
    try:
        return METRICS[name]
    except KeyError:
        raise KeyError(f"unknown metric '{name}'; known: {', '.join(METRICS)}") from None
