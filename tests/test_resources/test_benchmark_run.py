"""A run's benchmark rows from its load points, without Dagster: each point is "measured" by
replaying real ``vllm bench serve`` results recorded on this host (tests/fixtures/bench_history/),
with the host's CPU time as the sampler would have seen it, then read, judged and combined exactly
as benchmark_results does it."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from resources.benchmark.command import LoadPoint
from resources.benchmark.host_usage import Snapshot
from resources.benchmark.measure import PointRun
from resources.config.models import BenchmarkScenario
from resources.results.bench_json import BenchmarkRequestsFailed
from resources.results.benchmark_run import run_points
from resources.results.recorded import load_series

RECORDED = load_series(Path(__file__).resolve().parents[1] / "fixtures" / "bench_history", "warm-unchanged")


class Log:
    def __init__(self):
        self.lines = []

    def info(self, msg):
        self.lines.append(("info", msg))

    def warning(self, msg):
        self.lines.append(("warning", msg))


def _samples(raw: dict) -> list[Snapshot]:
    """Two samples over the recorded run, holding the CPU use recorded with it (cores x seconds)."""
    usage, wall = raw["host_usage"], raw["duration"]
    return [
        Snapshot(0.0, 0.0, {"server": 0.0, "load_generator": 0.0}),
        Snapshot(
            wall,
            usage["host_cpu_cores"] * wall,
            {"server": usage["server_cpu_cores"] * wall, "load_generator": usage["loadgen_cpu_cores"] * wall},
        ),
    ]


def _replay(results):
    """A ``measure`` that answers each call with the next recorded result, and notes the calls."""
    calls, results = [], iter(results)

    def measure(point: LoadPoint, result_file: Path, seed: int, label: str) -> PointRun:
        calls.append((point.name, result_file.name, seed, label))
        raw = next(results)
        return PointRun(
            point=point,
            seed=seed,
            bench_args=["--seed", str(seed)],
            result_file=result_file,
            raw=raw,
            host_samples=_samples(raw),
            energy=None,
            server_side={},
            server_peaks={},
        )

    return measure, calls


def _points(*scenarios: dict) -> list[BenchmarkScenario]:
    return [BenchmarkScenario(**s) for s in scenarios]


def _run(points, measure, server_started=True):
    log = Log()
    rows = run_points(
        points,
        measure,
        run_id="r1",
        partition="p",
        prefix_caching=None,
        out_dir=Path("/bench/p/r1"),
        server_started=server_started,
        log=log,
    )
    return rows, log


def test_each_point_gives_one_row_with_its_requests_and_the_first_on_a_started_server_is_marked():
    points = _points(
        {"name": "burst", "input_len": 128, "output_len": 64, "num_prompts": 32},
        {
            "name": "ladder",
            "input_len": 128,
            "output_len": 64,
            "num_prompts": 32,
            "concurrency_ladder": {"start": 1, "max": 2},
        },
    )
    measure, calls = _replay(RECORDED)
    done, log = _run(points, measure)
    assert [c[:2] for c in calls] == [
        ("burst", "burst.json"),
        ("ladder/c1", "ladder_c1.json"),
        ("ladder/c2", "ladder_c2.json"),
    ]
    assert [r["scenario"] for r in done.rows] == ["burst", "ladder/c1", "ladder/c2"]
    assert [r["first_load_after_start"] for r in done.rows] == [True, False, False]
    assert len(done.requests) == sum(len(raw["ttfts"]) for raw in RECORDED[:3]) and not done.repetition_rows
    assert {r["scenario"] for r in done.requests} == {"burst", "ladder/c1", "ladder/c2"}
    # What the run measured beside the benchmark is in the row: the host's CPU use over the point.
    assert done.rows[0]["server_cpu_cores"] == pytest.approx(RECORDED[0]["host_usage"]["server_cpu_cores"])
    assert done.rows[0]["output_throughput"] == pytest.approx(RECORDED[0]["output_throughput"])
    assert (
        "info",
        f"[1/3] burst: {RECORDED[0]['completed']} completed, 0 failed, "
        f"{RECORDED[0]['output_throughput']:.1f} output tok/s, mean TTFT {RECORDED[0]['mean_ttft_ms']:.1f} ms",
    ) in log.lines
    # An invalid measurement is said in the log as well as in its row.
    for row in done.rows:
        assert (
            ("warning", f"[{done.rows.index(row) + 1}/3] {row['scenario']}: INVALID: {row['invalid_reasons']}")
            in log.lines
        ) == (not row["valid"])


def test_a_reused_server_marks_no_first_load():
    measure, _ = _replay(RECORDED)
    done, _ = _run(
        _points({"name": "burst", "input_len": 128, "output_len": 64, "num_prompts": 32}), measure, server_started=False
    )
    assert done.rows[0]["first_load_after_start"] is False


def test_a_repeated_point_keeps_each_repetition_and_its_requests_say_which_one():
    measure, calls = _replay(RECORDED)
    done, log = _run(
        _points({"name": "twice", "input_len": 128, "output_len": 64, "num_prompts": 32, "repeat": 2}), measure
    )
    assert [c[1] for c in calls] == ["twice_rep1.json", "twice_rep2.json"]
    assert calls[0][2] != calls[1][2], "each repetition draws its own prompts"
    assert [c[3] for c in calls] == ["[1/1] twice #1/2", "[1/1] twice #2/2"]
    [row] = done.rows
    assert row["repetitions"] == 2 and row["completed"] == RECORDED[0]["completed"] + RECORDED[1]["completed"]
    assert [(r["repetition"], r["seed"]) for r in done.repetition_rows] == [(1, calls[0][2]), (2, calls[1][2])]
    assert [sum(r["repetition"] == k for r in done.requests) for k in (1, 2)] == [
        len(RECORDED[0]["ttfts"]),
        len(RECORDED[1]["ttfts"]),
    ]
    assert any("of 2 repetitions valid; median" in msg for _, msg in log.lines)


def test_a_point_whose_requests_failed_ends_the_run_with_no_rows():
    broken = copy.deepcopy(RECORDED[1])
    broken["failed"], broken["errors"] = 3, ["", "Server disconnected without sending a response."]
    measure, calls = _replay([RECORDED[0], broken, RECORDED[2]])
    points = _points(
        {"name": "a", "input_len": 128, "output_len": 64, "num_prompts": 32},
        {"name": "b", "input_len": 128, "output_len": 64, "num_prompts": 32},
        {"name": "c", "input_len": 128, "output_len": 64, "num_prompts": 32},
    )
    with pytest.raises(BenchmarkRequestsFailed, match="scenario b: 3 of .* Server disconnected"):
        _run(points, measure)
    assert len(calls) == 2, "nothing runs after the failed point"
