"""End to end, for real: a scenario with ``repeat: 3`` on vLLM's CPU build is measured three times in
one run, kept per repetition, and read everywhere else as one result with its interval across the
repetitions; the deployment's price per host-hour is recorded with the run and turned into a cost per
million output tokens in the report."""

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


def _repetitions_and_result(eval_home, run_id):
    with duckdb.connect(str(eval_home / "results.duckdb"), read_only=True) as db:
        reps = db.execute(
            "SELECT repetition, seed, completed, output_throughput, valid, result_file "
            "FROM benchmark_repetitions WHERE run_id = ? ORDER BY repetition",
            [run_id],
        ).fetchall()
        [result] = db.execute(
            "SELECT scenario, completed, output_throughput, output_throughput_low, "
            "output_throughput_high, throughput_interval, repetitions, valid_repetitions, valid "
            "FROM benchmark_results WHERE run_id = ?",
            [run_id],
        ).fetchall()
        requests = db.execute(
            "SELECT repetition, count(*) FROM benchmark_requests WHERE run_id = ? GROUP BY 1 ORDER BY 1", [run_id]
        ).fetchall()
        price = db.execute("SELECT price_per_hour_usd FROM runs WHERE run_id = ?", [run_id]).fetchone()[0]
    return reps, result, requests, price


def _used(reps) -> list[float]:
    """The repetitions' output throughputs the result is made of: the valid ones when at least half
    are valid, else all of them (the result is then invalid and still shows its numbers)."""
    valid = [r[3] for r in reps if r[4]]
    return valid if 2 * len(valid) >= len(reps) else [r[3] for r in reps]


def test_a_repeated_scenario_is_measured_three_times_and_stored_as_one_result_with_its_interval(run, eval_home):
    reps, result, requests, price = _repetitions_and_result(eval_home, run.run_id)
    assert [r[0] for r in reps] == [1, 2, 3] and len({r[1] for r in reps}) == 3  # each its own prompts
    assert all(r[2] == 16 for r in reps) and len({r[5] for r in reps}) == 3, "each its own result file"
    assert requests == [(1, 16), (2, 16), (3, 16)]
    scenario, completed, throughput, low, high, method, repetitions, valid_reps, valid = result
    assert scenario == "short-thrice" and completed == 48 and repetitions == 3
    assert valid_reps == sum(bool(r[4]) for r in reps) and valid == (2 * valid_reps >= 3)
    used = _used(reps)
    print(f"\n[figures] repetitions {[(r[3], r[4]) for r in reps]}: {throughput} ({low}-{high}, {method})")
    assert throughput == pytest.approx(float(np.median(used)))
    # Two or three repetitions make the result, so it always has an interval around its median:
    # the min-max of two, or Student's t interval of the mean of three.
    assert low is not None and high is not None and low <= throughput <= high
    if len(used) == 2:
        assert method == "min-max" and (low, high) == (min(used), max(used))
    else:
        mean, spread = float(np.mean(used)), float(np.std(used, ddof=1))
        assert method == "t" and low <= min(used) and high >= max(used)
        assert (low + high) / 2 == pytest.approx(mean) or low == 0.0, "centred on the mean (cut at zero)"
        assert high - mean == pytest.approx(4.30 * spread / np.sqrt(3), rel=0.05), "t(0.975, 2 dof) = 4.30"
    assert price == 0.40


def test_the_report_shows_the_interval_and_the_cost(run, eval_home):
    from resources.report.build import build_report
    from resources.results.store import ResultsStore

    store = ResultsStore(eval_home / "results.duckdb")
    markdown = build_report(store, eval_home / "report-repeat").markdown_path.read_text()
    line = next(
        row for row in markdown[markdown.index("## Latest results") :].splitlines() if row.startswith(f"| {PARTITION} ")
    )
    _, (_, _, throughput, low, high, *_), _, _ = _repetitions_and_result(eval_home, run.run_id)
    assert low is not None and high is not None, "three repetitions always give an interval"
    assert f"| {throughput:,.1f} ({low:,.1f}-{high:,.1f}) " in line, "output tok/s with its interval"
    cost = 0.40 / (throughput * 3600) * 1e6
    assert f"| {cost:,.{2 if cost >= 1 else 4}f} " in line
