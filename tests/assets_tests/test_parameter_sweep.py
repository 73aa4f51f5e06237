"""A user sweeps SmolLM2's batching on the CPU build and asks which parameter set is best.

The shipped sweep (configs/sweeps/smollm2-cpu-batching.yaml: max_num_seqs 2 or 8 x
max_num_batched_tokens 256 or 2048) runs end to end through the real command, one real vLLM
server per point, each point a real Dagster run of its own partition. Then one point is replayed
with ``dagster job execute`` and must reproduce its throughput within noise.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from resources.config.eval_home import PROJECT_ROOT

SWEEP = "smollm2-cpu-batching"
REPLAYED = f"{SWEEP}.max_num_seqs-8.max_num_batched_tokens-2048"

pytestmark = pytest.mark.vllm


@pytest.fixture(scope="module", autouse=True)
def _stop_the_sweeps_servers():
    """The sweeps' servers stop with this module: idle CPU servers left to the session's end take
    cycles from every later test on a 2-core host."""
    yield
    from resources.runtime.process import stop_service

    for slot in (SWEEP, "tiny-cpu-failing"):
        stop_service(slot)


def _command(*args: str, timeout: int = 1500) -> subprocess.CompletedProcess:
    return subprocess.run(
        list(args), cwd=PROJECT_ROOT, env=os.environ.copy(), capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def swept(instance, eval_home):
    from resources.results.store import ResultsStore

    done = _command(sys.executable, "-m", "pipelines", "sweep", "run", SWEEP)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return done.stdout, ResultsStore(eval_home / "results.duckdb")


def test_plan_shows_each_points_serve_line_before_anything_runs():
    planned = _command(sys.executable, "-m", "pipelines", "sweep", "plan", SWEEP, timeout=120)
    assert planned.returncode == 0, planned.stderr
    assert planned.stdout.count("vllm serve ") == 4
    assert "--max-num-seqs 8 --max-num-batched-tokens 256" in planned.stdout


def test_every_point_runs_as_its_own_partition_and_records_what_it_set(swept):
    output, store = swept
    runs = store.query("SELECT partition, sweep, sweep_settings, serve_args, status FROM runs WHERE sweep = ?", [SWEEP])
    assert len(runs) == 4 and set(runs["status"]) == {"succeeded"}
    for row in runs.itertuples():
        settings = json.loads(row.sweep_settings)
        assert f"--max-num-seqs {settings['max_num_seqs']}" in row.serve_args
        assert f"--max-num-batched-tokens {settings['max_num_batched_tokens']}" in row.serve_args
    assert output.count("succeeded in") == 4


def test_each_point_has_its_slo_search_curve_and_answer(swept):
    _, store = swept
    capacity = store.query("SELECT partition, levels, max_concurrency, sentence FROM capacity_results")
    assert len(capacity) == 4
    for row in capacity.itertuples():
        levels = [level["level"] for level in json.loads(row.levels)]
        assert levels[0] == 2 and len(levels) <= 8  # the sweep's search starts at concurrency 2
        measured = store.query(
            "SELECT max_concurrency FROM benchmark_results WHERE partition = ? AND scenario_group = 'capacity'",
            [row.partition],
        )
        assert sorted(measured["max_concurrency"]) == sorted(levels)  # the curve is kept beside the answer
        assert "concurrency" in row.sentence


def test_the_report_names_a_winner_or_a_tie_per_objective_with_numbers(swept, eval_home):
    output, _ = swept
    report = (eval_home / "reports" / "comparison_report.md").read_text()
    section = report[report.index(f"Which parameter set is best: sweep {SWEEP}") :]
    lines = {
        objective: next(line for line in section.splitlines() if objective in line)
        for objective in ("most output tok/s per host in steady", "lowest median TPOT in steady", "most concurrency")
    }
    # Each objective: a winner, a tie, or undecided with the reason (on a host too busy for two valid
    # repetitions of a point), always with the numbers; at least one objective is decided.
    for line in lines.values():
        assert re.search(r"wins|tie|undecided", line) and re.search(r"\d", line), line
    assert any(re.search(r"wins|tie", line) for line in lines.values()), lines
    assert "Which parameter set is best:" in output


def test_a_replayed_point_reproduces_its_throughput_within_noise(swept):
    from resources.results.sweep_winner import TIE, Measured, compare_measured

    _, store = swept
    replay = _command(
        sys.executable, "-m", "dagster", "job", "execute", "-m", "pipelines.definitions", "-j", "deploy_and_evaluate",
        "--tags", json.dumps({"dagster/partition": REPLAYED}),
    )  # fmt: skip
    assert replay.returncode == 0, replay.stdout[-3000:] + replay.stderr[-3000:]
    runs = store.query(
        "SELECT run_id, config_hash FROM runs WHERE partition = ? AND status = 'succeeded' ORDER BY finished_at",
        [REPLAYED],
    )
    assert len(runs) == 2 and runs["config_hash"].nunique() == 1  # the same server, arguments and weights
    values = [
        tuple(
            store.query(
                "SELECT output_throughput FROM benchmark_repetitions WHERE run_id = ? AND scenario = 'steady'",
                [run_id],
            )["output_throughput"]
        )
        for run_id in runs["run_id"]
    ]
    verdict = compare_measured(
        "steady", [Measured("first", "first", values[0]), Measured("replay", "replay", values[1])], True, "tok/s"
    )
    assert verdict.outcome == TIE, verdict.sentence


def test_a_point_that_fails_is_reported_and_the_sweep_goes_on(instance, eval_home):
    from resources.results.store import ResultsStore

    done = _command(sys.executable, "-m", "pipelines", "sweep", "run", "tiny-cpu-failing", timeout=900)
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    failing, working = "tiny-cpu-failing.kv_cache_memory_bytes-1k", "tiny-cpu-failing.max_num_seqs-4"
    assert f"[1/2] {failing}: FAILED" in done.stdout and f"[2/2] {working}: succeeded" in done.stdout
    assert f"1 point(s) did not succeed: {failing} (FAILED)" in done.stdout
    assert f"FAILED, left out: {failing}" in done.stdout  # in the summary, beside the comparison
    runs = ResultsStore(eval_home / "results.duckdb").query(
        "SELECT partition, status, sweep, error FROM runs WHERE sweep = 'tiny-cpu-failing' ORDER BY partition"
    )
    assert list(zip(runs["partition"], runs["status"])) == [(failing, "failed"), (working, "succeeded")]
    assert runs["error"][0]  # the failure's message is kept
