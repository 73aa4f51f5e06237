"""The results database as a history: appended runs, old files, imported results, regressions."""

import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from resources.results.bench_import import import_result_file
from resources.results.bench_json import BenchResultError, parse_bench_result, parse_request_rows
from resources.results.regression import NO_BASELINE, judge_recorded
from resources.results.store import MIGRATIONS, SCHEMA_VERSION, ResultsStore

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "vllm"
REAL_RESULT = json.loads((FIXTURES / "bench_serve_result_cpu.json").read_text())
THRESHOLDS = {"median_tpot_ms": 0.10, "p99_ttft_ms": 0.10, "output_throughput": 0.10}


def _record(store, run_id, when, slowdown=1.0, image_digest="sha256:aaa", fingerprint="hw1"):
    """A run whose numbers are the real CPU result, with latencies scaled by ``slowdown``."""
    row = parse_bench_result(REAL_RESULT)
    for key in list(row):
        if key.endswith("_ms") and row[key] is not None:
            row[key] *= slowdown
    row["output_throughput"] /= slowdown
    store.record_run(
        {
            "run_id": run_id,
            "partition": "p",
            "status": "succeeded",
            "started_at": when,
            "finished_at": when,
            "hardware_fingerprint": fingerprint,
            "image_ref": "vllm/vllm-openai:v0.17.1",
            "image_digest": image_digest,
            "weights_revision": "abc",
            "vllm_version": "0.17.1",
            "driver_version": "580.1",
            "config_hash": "h",
            "git_sha": "g",
        },
        [{"run_id": run_id, "partition": "p", "scenario": "short", **row}],
    )


def find_regressions(store, run_id, thresholds, window):
    return judge_recorded(store, "p", run_id, thresholds, window).regressions


@pytest.fixture
def store(tmp_path):
    return ResultsStore(tmp_path / "results.duckdb")


def test_a_planted_30_percent_slowdown_trips_the_check_and_names_the_metric_and_what_changed(store):
    start = datetime(2026, 11, 1, 2, 0)
    for night in range(5):
        _record(store, f"night-{night}", start + timedelta(days=night), slowdown=1 + night * 0.01)
    _record(store, "tonight", start + timedelta(days=5), slowdown=1.3, image_digest="sha256:bbb")
    found = find_regressions(store, "tonight", THRESHOLDS, window=5)
    metrics = {r.metric for r in found}
    assert metrics == {"median_tpot_ms", "p99_ttft_ms", "output_throughput"}
    tpot = next(r for r in found if r.metric == "median_tpot_ms")
    assert tpot.change == pytest.approx((1.3 - 1.02) / 1.02) and tpot.baseline_runs == 5
    assert "median TPOT slower" in tpot.describe() and "image digest sha256:aaa -> sha256:bbb" in tpot.describe()


def test_noise_within_the_threshold_is_not_a_regression(store):
    start = datetime(2026, 11, 1, 2, 0)
    for night in range(4):
        _record(store, f"night-{night}", start + timedelta(days=night), slowdown=1 + night * 0.02)
    assert find_regressions(store, "night-3", THRESHOLDS, window=5) == []


def test_a_run_on_other_hardware_is_never_compared_with_this_hosts_history(store):
    start = datetime(2026, 11, 1, 2, 0)
    _record(store, "h100-night", start)
    _record(store, "4090-night", start + timedelta(days=1), slowdown=3.0, fingerprint="hw2")
    judgement = judge_recorded(store, "p", "4090-night", THRESHOLDS, window=5)
    assert judgement.regressions == [] and {v.outcome for v in judgement.verdicts} == {NO_BASELINE}


def test_runs_are_appended_and_rewriting_one_run_leaves_the_others_untouched(store):
    _record(store, "a", datetime(2026, 11, 1))
    _record(store, "b", datetime(2026, 11, 2))
    _record(store, "a", datetime(2026, 11, 1), slowdown=2.0)  # a retried step writes run a again
    rows = store.query("SELECT run_id, count(*) AS n FROM benchmark_results GROUP BY run_id ORDER BY run_id")
    assert rows.to_dict("records") == [{"run_id": "a", "n": 1}, {"run_id": "b", "n": 1}]


def test_a_results_file_written_by_the_first_schema_opens_with_new_code(tmp_path):
    path = tmp_path / "old.duckdb"
    with duckdb.connect(str(path)) as old:
        for statement in MIGRATIONS[0]:
            old.execute(statement)
        old.execute("INSERT INTO runs (run_id, partition, status) VALUES ('old-run', 'p', 'succeeded')")
    store = ResultsStore(path)
    old_row = store.query("SELECT run_id, gpu_count FROM runs")
    assert old_row.to_dict("records") == [{"run_id": "old-run", "gpu_count": None}]
    assert store.query("SELECT version FROM schema_version")["version"].tolist() == [SCHEMA_VERSION]
    assert store.query("SELECT count(*) AS n FROM benchmark_requests")["n"][0] == 0


def test_a_result_saved_by_hand_imports_with_every_number_unchanged_and_marked_imported(store, tmp_path):
    saved = tmp_path / "by-hand.json"
    shutil.copy(FIXTURES / "bench_serve_result_cpu.json", saved)
    run_id = import_result_file(store, saved, "tiny-cpu-eager")
    assert import_result_file(store, saved, "tiny-cpu-eager") == run_id  # a second import replaces
    row = store.query("SELECT * FROM benchmark_results").iloc[0]
    for key in ("output_throughput", "request_throughput", "mean_ttft_ms", "p99_tpot_ms", "median_itl_ms"):
        assert row[key] == REAL_RESULT[key]
    assert row["completed"] == REAL_RESULT["completed"] and row["duration_s"] == REAL_RESULT["duration"]
    run = store.query("SELECT origin, model_id, started_at FROM runs").iloc[0]
    assert run["origin"] == "imported" and run["model_id"] == "tiny"
    assert store.query("SELECT count(*) AS n FROM runs")["n"][0] == 1


def test_a_file_that_is_not_a_bench_result_is_refused_and_nothing_is_written(store, tmp_path):
    bad = tmp_path / "notes.json"
    bad.write_text('{"hello": "world"}')
    with pytest.raises(BenchResultError, match="notes.json"):
        import_result_file(store, bad, "p")
    assert (
        store.query("SELECT count(*) AS n FROM runs").empty
        or store.query("SELECT count(*) AS n FROM runs")["n"][0] == 0
    )


def test_detailed_results_import_per_request_rows(store, tmp_path):
    detailed = dict(
        REAL_RESULT,
        ttfts=[0.2, 0.3],
        latencies=[0.9, 1.0],
        output_lens=[64, 64],
        input_lens=[128, 128],
        itls=[[0.01] * 63, [0.011] * 63],
        errors=["", ""],
        start_times=[0, 0.1],
    )
    path = tmp_path / "detailed.json"
    path.write_text(json.dumps(detailed))
    import_result_file(store, path, "p")
    requests = store.query("SELECT * FROM benchmark_requests ORDER BY request_index")
    assert len(requests) == 2 == len(parse_request_rows(detailed))
    assert requests["ttft_ms"].tolist() == pytest.approx([200, 300])
