"""End to end, for real: a scenario with ``repeat: 2`` on vLLM's CPU build is measured twice in one
run, kept per repetition, and read everywhere else as one result with its interval; the
deployment's price per host-hour is recorded with the run and turned into a cost per million
output tokens in the report."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest

pytestmark = pytest.mark.vllm

PARTITION = "tiny-cpu-repeated"


@pytest.fixture(scope="module")
def run(run_chain):
    result = run_chain(PARTITION)
    assert result.success, "the chain failed; see the Dagster log above"
    return result


def test_a_repeated_scenario_is_measured_twice_and_stored_as_one_result(run, eval_home):
    with duckdb.connect(str(eval_home / "results.duckdb"), read_only=True) as db:
        reps = db.execute("SELECT repetition, seed, completed, output_throughput, valid, result_file "
                          "FROM benchmark_repetitions WHERE run_id = ? ORDER BY repetition", [run.run_id]).fetchall()
        result = db.execute("SELECT scenario, completed, output_throughput, output_throughput_low, "
                            "output_throughput_high, throughput_interval, repetitions, valid_repetitions, valid "
                            "FROM benchmark_results WHERE run_id = ?", [run.run_id]).fetchall()
        requests = db.execute("SELECT repetition, count(*) FROM benchmark_requests WHERE run_id = ? "
                              "GROUP BY 1 ORDER BY 1", [run.run_id]).fetchall()
        price = db.execute("SELECT price_per_hour_usd FROM runs WHERE run_id = ?", [run.run_id]).fetchone()[0]
    assert [r[0] for r in reps] == [1, 2] and reps[0][1] != reps[1][1]  # each its own prompts
    assert all(r[2] == 16 for r in reps) and reps[0][5] != reps[1][5]
    assert requests == [(1, 16), (2, 16)]
    [(scenario, completed, throughput, low, high, method, repetitions, valid_reps, valid)] = result
    assert scenario == "short-twice" and completed == 32 and repetitions == 2
    assert valid_reps == sum(bool(r[4]) for r in reps)
    # The median of the valid repetitions (of all of them when none is valid: the result is then
    # invalid and still shows its numbers), the min-max of two around it.
    valid_throughputs = [r[3] for r in reps if r[4]]
    used = valid_throughputs or [r[3] for r in reps]
    assert valid == bool(valid_throughputs)
    assert throughput == pytest.approx(float(np.median(used)))
    if len(used) == 2:
        assert method == "min-max" and (low, high) == (min(used), max(used))
    else:
        assert low is None and high is None
    assert price == 0.40


def test_the_report_shows_the_interval_and_the_cost(run, eval_home):
    from resources.report.build import build_report
    from resources.results.store import ResultsStore

    store = ResultsStore(eval_home / "results.duckdb")
    markdown = build_report(store, eval_home / "report-repeat").markdown_path.read_text()
    line = next(l for l in markdown[markdown.index("## Latest results"):].splitlines()
                if l.startswith(f"| {PARTITION} "))
    throughput = store.query("SELECT output_throughput FROM benchmark_results WHERE run_id = ?",
                             [run.run_id]).iloc[0, 0]
    cost = 0.40 / (throughput * 3600) * 1e6
    assert f"| {cost:,.{2 if cost >= 1 else 4}f} " in line
