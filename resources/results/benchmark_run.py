"""A run's benchmark rows: every load point measured, read, judged and combined, in order.

Each scenario gives one load point, or several for a ladder or a sweep (``command.expand_scenario``);
each point runs ``repeat`` times, each time with its own seed. A repetition is measured by the
caller's ``measure`` (``resources/benchmark/measure.py`` through the deployment's runtime), read
and judged by ``point_result``, and a point's repetitions are combined into its one result
(``repetitions.py``). Whatever ran first on a server this run started met it cold (kernels
compiled on first use): it is marked, so a slower first scenario can be told from a slower vLLM.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

from resources.benchmark.capacity_search import CapacitySearch, requests_meeting
from resources.benchmark.command import LoadPoint, expand_scenario, repetition_seed
from resources.benchmark.measure import PointRun
from resources.config.models import BenchmarkScenario
from resources.results.capacity import capacity_row
from resources.results.point_result import PointResult, point_result
from resources.results.prefix_cache import prefix_cache_flag
from resources.results.repetitions import combine_repetitions, repetition_row

# ``measure(point, result_file, seed, label=...)``: the point measured once (``label`` names it in the log).
Measure = Callable[..., PointRun]


class Log(Protocol):
    def info(self, msg: str) -> None: ...

    def warning(self, msg: str) -> None: ...


@dataclass
class BenchmarkRows:
    """What a run writes: one row per load point, its requests, each repetition of a repeated point,
    and the answer of each SLO search."""

    rows: list[dict] = field(default_factory=list)  # benchmark_results
    requests: list[dict] = field(default_factory=list)  # benchmark_requests
    repetition_rows: list[dict] = field(default_factory=list)  # benchmark_repetitions
    capacities: list[dict] = field(default_factory=list)  # capacity_results


def load_points(scenarios: list[BenchmarkScenario]) -> list[LoadPoint]:
    """The fixed load points of the scenarios, in order (an SLO search's levels are chosen as it runs)."""
    return [point for scenario in scenarios if scenario.slo_search is None for point in expand_scenario(scenario)]


def run_points(
    scenarios: list[BenchmarkScenario],
    measure: Measure,
    *,
    run_id: str,
    partition: str,
    prefix_caching: bool | None,
    out_dir: Path,
    server_started: bool,
    log: Log,
) -> BenchmarkRows:
    """Measures every scenario's points in order; the first exception (a failed benchmark, failed
    requests) ends the run with nothing returned: a run is recorded whole or as failed, never in part."""
    done = BenchmarkRows()
    fixed = len(load_points(scenarios))
    searching = any(s.slo_search is not None for s in scenarios)
    total = f"{fixed}+" if searching else str(fixed)

    def run_one(point: LoadPoint) -> list[PointResult]:
        number = len(done.rows) + 1
        measured = _measure_point(
            point, measure, f"[{number}/{total}] {point.name}", run_id, partition, prefix_caching, out_dir, log
        )
        _record(done, point, measured, number == 1 and server_started, log, f"[{number}/{total}]")
        return measured

    for scenario in scenarios:
        if scenario.slo_search is None:
            for point in expand_scenario(scenario):
                run_one(point)
            continue
        search = CapacitySearch(**scenario.slo_search.model_dump())
        while (level := search.next_level()) is not None:
            point = LoadPoint(scenario, f"{scenario.name}/c{level}", level, scenario.request_rate)
            measured = run_one(point)
            good = sum(
                requests_meeting(r.row["request_goodput"], r.row["duration_s"], r.row["completed"], r.row["failed"])
                for r in measured
            )
            sent = sum(r.row["completed"] + r.row["failed"] for r in measured)
            search.record(level, good, sent)
            log.info(
                f"{scenario.name}: concurrency {level}: {good} of {sent} requests met the SLO "
                f"({100 * good / sent:.0f} %, goal {100 * search.goal:.0f} %)"
            )
        capacity = capacity_row(search, scenario, done.rows, run_id=run_id, partition=partition)
        log.info(f"{scenario.name}: {capacity['sentence']}")
        done.capacities.append(capacity)
    return done


def _measure_point(
    point: LoadPoint,
    measure: Measure,
    label: str,
    run_id: str,
    partition: str,
    prefix_caching: bool | None,
    out_dir: Path,
    log: Log,
) -> list[PointResult]:
    """The point measured ``repeat`` times, each with its own seed, each read and judged."""
    repeat = point.scenario.repeat
    measured = []
    for repetition in range(1, repeat + 1):
        suffix = f"_rep{repetition}" if repeat > 1 else ""
        this = label + (f" #{repetition}/{repeat}" if repeat > 1 else "")
        run = measure(
            point,
            out_dir / f"{point.name.replace('/', '_')}{suffix}.json",
            repetition_seed(point.name, run_id, point.scenario.seed, repetition),
            label=this,
        )
        result = point_result(run, run_id=run_id, partition=partition, prefix_caching=prefix_caching)
        _log_result(log, this, result)
        measured.append(result)
    return measured


def _record(
    done: BenchmarkRows, point: LoadPoint, measured: list[PointResult], first: bool, log: Log, number: str
) -> None:
    """Adds a point's combined row, its requests and (repeated) its repetitions to the run's rows."""
    repeat = point.scenario.repeat
    requests = [r.requests for r in measured]
    if repeat > 1:
        # Each repetition's row is kept; the rest of the project reads their combination.
        done.repetition_rows += [repetition_row(r.row, k) for k, r in enumerate(measured, start=1)]
        requests = [
            [{**request, "repetition": k} for request in point_requests]
            for k, point_requests in enumerate(requests, start=1)
        ]
    row = combine_repetitions([r.row for r in measured], requests)
    if repeat > 1 and row.get("prefix_cache_implied") is not None:  # judged again on the repetitions' median
        row["prefix_cache_flag"] = prefix_cache_flag(row.get("prefix_cache_hit_rate"), row["prefix_cache_implied"])
    row["first_load_after_start"] = first
    if first:
        log.info(
            f"{number} {point.name} was the first load on the server this run started: "
            "one-time kernel compilation may show in its first requests' TTFT"
        )
    done.rows.append(row)
    done.requests += [request for point_requests in requests for request in point_requests]
    if repeat > 1:
        low, high = row["output_throughput_low"], row["output_throughput_high"]
        log.info(
            f"{number} {point.name}: {row['valid_repetitions']} of {repeat} "
            f"repetitions valid; median {row['output_throughput']:.1f} output tok/s"
            + (f" ({low:.1f}-{high:.1f}, {row['throughput_interval']})" if low is not None else "")
        )


def _log_result(log: Log, label: str, result: PointResult) -> None:
    row = result.row
    if not result.validity.valid:
        log.warning(f"{label}: INVALID: {result.validity.reason_text}")
    log.info(
        f"{label}: {row['completed']} completed, {row['failed']} failed, "
        f"{row['output_throughput']:.1f} output tok/s, mean TTFT {row['mean_ttft_ms']:.1f} ms"
    )
