"""One measured load point read and judged into its result row and per-request rows (pure).

Parsing is ``bench_json`` (vLLM's saved result), judging is ``validity`` (was it a measurement
at all), and the row is ``run_record.result_row`` with the columns measured beside the benchmark:
energy, host usage, vLLM's counters and gauges.
"""

from __future__ import annotations

from dataclasses import dataclass

from resources.benchmark.host_usage import usage_row
from resources.benchmark.measure import PointRun
from resources.hardware.scenario_energy import scenario_energy
from resources.results.bench_json import failed_requests, parse_bench_result, parse_request_rows
from resources.results.run_record import result_row
from resources.results.validity import Validity, judge_validity


@dataclass(frozen=True)
class PointResult:
    row: dict  # one benchmark_results row
    requests: list[dict]  # its benchmark_requests rows
    validity: Validity


def point_result(run: PointRun, *, run_id: str, partition: str, prefix_caching: bool | None) -> PointResult:
    """Raises ``BenchmarkRequestsFailed`` when the server failed the point's requests."""
    point = run.point
    parsed = parse_bench_result(run.raw, str(run.result_file))
    failed_requests(parsed, run.raw, point.name)
    requests = parse_request_rows(run.raw)
    usage = usage_row(run.host_samples, parsed["duration_s"])
    # A rate-limited point (no concurrency cap) is judged on whether the load generator kept its rate.
    validity = judge_validity(parsed, requests, usage, point.request_rate if point.max_concurrency is None else None)
    server_side = dict(run.server_side)
    block = server_side.pop("cache_block_size", None)  # not a column: it bounds the hits
    row = (
        result_row(
            run_id=run_id,
            partition=partition,
            point=point,
            parsed=parsed,
            seed=run.seed,
            prefix_caching=prefix_caching,
            bench_args=run.bench_args,
            result_file=str(run.result_file),
        )
        | scenario_energy(run.energy, parsed)
        | validity.as_row()
        | {k: v for k, v in (usage or {}).items() if k != "cpu_count"}
        | server_side
        | run.server_peaks
    )
    row |= workload_columns(
        point.scenario,
        row.get("prefix_cache_hit_rate"),
        run.raw.get("input_lens"),
        block,
        run.raw.get("leading_repeats") if point.turn is not None else None,
        first_turn=point.turn == 1,
    )
    return PointResult(
        row, [{"run_id": run_id, "partition": partition, "scenario": point.name, **r} for r in requests], validity
    )


def workload_columns(
    scenario,
    measured_hit_rate: float | None,
    input_lens: list[int] | None = None,
    block: int | None = None,
    carried: list[int] | None = None,
    first_turn: bool = False,
) -> dict:
    """What the requests were (kind, parameters, the trace file's sha256), so only like is compared
    with like, and the prefix-cache hits the workload implies beside a flag when there were more.
    ``carried``: a conversation turn's history per request (the previous turn's prompt and reply)."""
    import json

    from resources.benchmark.command import trace_path
    from resources.benchmark.trace import read_trace
    from resources.results.prefix_cache import implied_hit_rate, prefix_cache_flag

    workload = scenario.workload
    trace = read_trace(trace_path(workload.file)) if workload.kind == "trace" else None
    repeats = trace.leading_repeats()[: len(input_lens or [])] if trace else carried
    # A conversation's first turn shares only its system prompt, whose tokens are not counted apart.
    implied = None if first_turn else implied_hit_rate(scenario, input_lens, block, repeats)
    return {
        "workload": workload.kind,
        "workload_params": json.dumps(workload.model_dump(exclude_defaults=True, exclude={"kind"}), sort_keys=True),
        "workload_sha256": trace.sha256 if trace else None,
        "prefix_cache_implied": implied,
        "prefix_cache_flag": prefix_cache_flag(measured_hit_rate, implied),
    }
