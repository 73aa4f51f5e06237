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

from resources.benchmark.command import LoadPoint, expand_scenario, repetition_seed
from resources.benchmark.measure import PointRun
from resources.config.models import BenchmarkScenario
from resources.results.point_result import PointResult, point_result
from resources.results.repetitions import combine_repetitions, repetition_row

# ``measure(point, result_file, seed, label=...)``: the point measured once (``label`` names it in the log).
Measure = Callable[..., PointRun]


class Log(Protocol):
    def info(self, msg: str) -> None: ...

    def warning(self, msg: str) -> None: ...


@dataclass
class BenchmarkRows:
    """What a run writes: one row per load point, its requests, and each repetition of a repeated point."""

    rows: list[dict] = field(default_factory=list)  # benchmark_results
    requests: list[dict] = field(default_factory=list)  # benchmark_requests
    repetition_rows: list[dict] = field(default_factory=list)  # benchmark_repetitions


def load_points(scenarios: list[BenchmarkScenario]) -> list[LoadPoint]:
    """The deployment's benchmark scenarios as the load points they run, in order."""
    return [point for scenario in scenarios for point in expand_scenario(scenario)]


def run_points(
    points: list[LoadPoint],
    measure: Measure,
    *,
    run_id: str,
    partition: str,
    prefix_caching: bool | None,
    out_dir: Path,
    server_started: bool,
    log: Log,
) -> BenchmarkRows:
    """Measures every point in order; the first exception (a failed benchmark, failed requests)
    ends the run with nothing returned: a run is recorded whole or as failed, never in part."""
    done = BenchmarkRows()
    for number, point in enumerate(points, start=1):
        repeat = point.scenario.repeat
        measured = []
        for repetition in range(1, repeat + 1):
            label = f"[{number}/{len(points)}] {point.name}" + (f" #{repetition}/{repeat}" if repeat > 1 else "")
            suffix = f"_rep{repetition}" if repeat > 1 else ""
            run = measure(
                point,
                out_dir / f"{point.name.replace('/', '_')}{suffix}.json",
                repetition_seed(point.name, run_id, point.scenario.seed, repetition),
                label=label,
            )
            result = point_result(run, run_id=run_id, partition=partition, prefix_caching=prefix_caching)
            _log_result(log, label, result)
            measured.append(result)
        requests = [r.requests for r in measured]
        if repeat > 1:
            # Each repetition's row is kept; the rest of the project reads their combination.
            done.repetition_rows += [repetition_row(r.row, k) for k, r in enumerate(measured, start=1)]
            requests = [
                [{**request, "repetition": k} for request in point_requests]
                for k, point_requests in enumerate(requests, start=1)
            ]
        row = combine_repetitions([r.row for r in measured], requests)
        row["first_load_after_start"] = number == 1 and server_started
        if row["first_load_after_start"]:
            log.info(
                f"[1/{len(points)}] {point.name} was the first load on the server this run started: "
                "one-time kernel compilation may show in its first requests' TTFT"
            )
        done.rows.append(row)
        done.requests += [request for point_requests in requests for request in point_requests]
        if repeat > 1:
            low, high = row["output_throughput_low"], row["output_throughput_high"]
            log.info(
                f"[{number}/{len(points)}] {point.name}: {row['valid_repetitions']} of {repeat} "
                f"repetitions valid; median {row['output_throughput']:.1f} output tok/s"
                + (f" ({low:.1f}-{high:.1f}, {row['throughput_interval']})" if low is not None else "")
            )
    return done


def _log_result(log: Log, label: str, result: PointResult) -> None:
    row = result.row
    if not result.validity.valid:
        log.warning(f"{label}: INVALID: {result.validity.reason_text}")
    log.info(
        f"{label}: {row['completed']} completed, {row['failed']} failed, "
        f"{row['output_throughput']:.1f} output tok/s, mean TTFT {row['mean_ttft_ms']:.1f} ms"
    )
