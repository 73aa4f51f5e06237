"""End to end, for real: vLLM's CPU build serves the generated model, Dagster runs the chain,
vLLM's own benchmark measures it, and the results land in a DuckDB file."""

from __future__ import annotations

import duckdb
import pytest

pytestmark = pytest.mark.vllm

PARTITION = "tiny-cpu-eager"


def _metadata(result, asset: str) -> dict:
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == asset]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def _db(eval_home):
    return duckdb.connect(str(eval_home / "results.duckdb"), read_only=True)


@pytest.fixture(scope="module")
def first_run(run_chain):
    result = run_chain(PARTITION)
    assert result.success, "the chain failed; see the Dagster log above"
    return result


def test_a_cpu_deployment_runs_the_whole_chain_and_lands_its_benchmark_in_duckdb(first_run, eval_home):
    with _db(eval_home) as db:
        rows = db.execute(
            "SELECT scenario, completed, failed, mean_ttft_ms, output_throughput, p99_tpot_ms, median_itl_ms,"
            " metric_definitions FROM benchmark_results WHERE run_id = ? ORDER BY scenario",
            [first_run.run_id],
        ).fetchall()
        requests = db.execute(
            "SELECT scenario, count(*), min(ttft_ms) FROM benchmark_requests WHERE run_id = ?"
            " GROUP BY scenario ORDER BY scenario",
            [first_run.run_id],
        ).fetchall()
    assert [r[0] for r in rows] == ["ladder/c1", "ladder/c2", "ladder/c4", "short-burst"]
    for scenario, completed, failed, ttft, throughput, p99_tpot, median_itl, definitions in rows:
        assert completed == (32 if scenario == "short-burst" else 8) and failed == 0
        assert ttft > 0 and throughput > 0 and p99_tpot > 0 and median_itl > 0
        assert definitions == "vllm"
    assert [(r[0], r[1]) for r in requests] == [
        ("ladder/c1", 8),
        ("ladder/c2", 8),
        ("ladder/c4", 8),
        ("short-burst", 32),
    ]
    assert all(r[2] > 0 for r in requests)
    with _db(eval_home) as db:
        checked = db.execute(
            "SELECT valid, invalid_reasons, host_cpu_cores, server_cpu_cores, prefix_cache_hit_rate,"
            " preemptions, mean_queue_time_ms, scenario, requests_running_peak, kv_cache_usage_peak, server_scrapes"
            " FROM benchmark_results WHERE run_id = ?",
            [first_run.run_id],
        ).fetchall()
    for valid, reasons, host, server, hit_rate, preemptions, queue_ms, _scenario, running, kv_peak, scrapes in checked:
        assert valid is not None and (valid or reasons) and host > 0 and server > 0
        # vLLM's own counters over each scenario (fresh prompts per run: few prefix-cache hits).
        assert 0 <= hit_rate < 0.5 and preemptions >= 0 and queue_ms >= 0
        # vLLM's gauges, read while each scenario ran (a read may land before the first request
        # or between two: a point of under a second can show none in flight).
        assert scrapes >= 1 and 0 <= kv_peak <= 1 and running >= 0
    # Whether a read finds requests in flight is not asserted: vLLM publishes its gauges at its own
    # stats interval, and the tiny model's scenarios last one to three seconds (a clean CI run's
    # first chain read 0 running over 18 reads of its four scenarios, its next two chains 1 and 32).
    ladder = {r[0]: r[4] for r in rows if r[0].startswith("ladder")}
    assert ladder["ladder/c4"] > ladder["ladder/c1"], "more concurrency, more throughput on the same server"


def test_the_first_load_on_a_server_the_run_started_is_marked_and_no_other(first_run, eval_home):
    started = not _metadata(first_run, "vllm_service")["reused"]
    with _db(eval_home) as db:
        marked = dict(
            db.execute(
                "SELECT scenario, first_load_after_start FROM benchmark_results WHERE run_id = ?", [first_run.run_id]
            ).fetchall()
        )
    # short-burst is the deployment's first scenario: the first load whenever this run started the server.
    assert marked == {"short-burst": started, "ladder/c1": False, "ladder/c2": False, "ladder/c4": False}


def test_every_run_row_carries_its_provenance(first_run, eval_home):
    with _db(eval_home) as db:
        run = db.execute("SELECT * FROM runs WHERE run_id = ?", [first_run.run_id]).df().iloc[0]
    assert run.partition == PARTITION and run.status == "succeeded"
    assert run.weights_revision.startswith("sha256:") and run.weights_source == "generated"
    assert run.vllm_version.startswith("0.") and run.image_ref.startswith("local:vllm==")
    assert len(run.hardware_fingerprint) == 16 and len(run.config_hash) == 16
    assert run.git_sha and "--enforce-eager" in run.serve_args
    assert run.device == "cpu" and run.gpu_count == 0 and run.tensor_parallel_size == 1
    # What the regression baseline is keyed on, and the engine capacity its suspects compare.
    assert run.hardware_model.startswith("cpu: ") and run.kv_cache_tokens > 0 and run.max_concurrency_capacity > 0


def test_the_materializations_show_start_up_phases_smoke_ttft_and_the_summary(first_run):
    service = _metadata(first_run, "vllm_service")
    assert service["reused"] is False and service["startup_s"] > 0
    assert "weights_loading" in service["phases_reached"] and "ready" in service["phases_reached"]
    smoke = _metadata(first_run, "smoke_test")
    assert smoke["passed"] is True and smoke["stream_ttft_ms"] > 0 and "tiny" in smoke["models_listed"]
    # The client's TTFT beside vLLM's own /metrics histogram for the same streamed request.
    assert smoke["client_ttft_ms"] > 0 and smoke["server_ttft_ms"] > 0, smoke["ttft_comparison"]
    assert abs(smoke["ttft_difference_ms"] - (smoke["client_ttft_ms"] - smoke["server_ttft_ms"])) < 0.02
    [check] = [c for c in first_run.get_asset_check_evaluations() if c.check_name == "server_answers"]
    assert check.passed
    bench = _metadata(first_run, "benchmark_results")
    assert bench["completed"] == 32 + 3 * 8 and bench["failed"] == 0 and "short-burst" in bench["summary"]
    [regression] = [c for c in first_run.get_asset_check_evaluations() if c.check_name == "no_regression"]
    assert regression.passed, "a first run has no history to regress from"
    table = regression.metadata["verdicts"].value  # per scenario and metric: no baseline yet, or invalid
    assert {line.split("|")[3].strip() for line in table.splitlines()[2:]} <= {"no baseline", "invalid"}, table
    # Each result's validity, measured on this host while it ran, with the reasons when invalid.
    [validity] = [c for c in first_run.get_asset_check_evaluations() if c.check_name == "valid_measurements"]
    assert validity.metadata["invalid_results"].value == bench["invalid_results"]
    assert validity.passed == (bench["invalid_results"] == 0)
    assert "| valid" in bench["summary"] and "verdict" in bench["summary"]
    hardware = _metadata(first_run, "hardware_report")
    assert hardware["nvidia_driver_present"] is False and "no NVIDIA driver" in hardware["report"]


def test_a_replay_reuses_the_healthy_server_and_appends_a_second_run(run_chain, first_run, eval_home):
    with _db(eval_home) as db:
        before = db.execute("SELECT * FROM benchmark_results WHERE run_id = ?", [first_run.run_id]).df()
    replay = run_chain(PARTITION)
    assert replay.success
    service = _metadata(replay, "vllm_service")
    assert service["reused"] is True
    assert service["config_hash"] == _metadata(first_run, "vllm_service")["config_hash"]
    with _db(eval_home) as db:
        runs = db.execute("SELECT run_id FROM runs WHERE partition = ?", [PARTITION]).fetchall()
        after = db.execute("SELECT * FROM benchmark_results WHERE run_id = ?", [first_run.run_id]).df()
        seeds = db.execute(
            "SELECT DISTINCT seed FROM benchmark_results WHERE partition = ? AND scenario = 'short-burst'", [PARTITION]
        ).fetchall()
    assert {first_run.run_id, replay.run_id} <= {r[0] for r in runs}
    assert before.equals(after), "a later run must not change an earlier run's rows"
    assert len(seeds) == 2, "each run draws fresh prompts so a warm prefix cache does not inflate results"
    with _db(eval_home) as db:
        marked = db.execute(
            "SELECT count(*) FROM benchmark_results WHERE run_id = ? AND first_load_after_start", [replay.run_id]
        ).fetchone()[0]
    assert marked == 0, "a reused server met no load of this run cold"


def test_the_comparison_report_lists_the_latest_results_of_each_partition(first_run, instance):
    from pipelines.definitions import defs

    result = defs.resolve_job_def("refresh_comparison_report").execute_in_process(instance=instance)
    report = _metadata(result, "comparison_report")["report"]
    assert PARTITION in report and "short-burst" in report and "TTFT mean ms" in report


def test_a_server_that_exits_during_start_up_fails_with_the_diagnosis_and_leaves_nothing_running(run_chain):
    from resources.runtime.process import port_in_use, read_state

    result = run_chain("tiny-cpu-broken")
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.event_specific_data.error.to_string()
    assert "vLLM server for 'tiny-cpu-broken' exited" in message
    assert "max_model_len" in message and "Last log lines" in message
    assert read_state("tiny-cpu-broken") is None and not port_in_use("127.0.0.1", 18199)


def test_the_run_leaves_a_snapshot_of_the_results_with_every_row(first_run, eval_home):
    from resources.results.snapshots import list_snapshots, read_snapshot

    snapshots = [read_snapshot(p) for p in list_snapshots(eval_home / "snapshots", "results")]
    [taken] = [s for s in snapshots if s.newest_run and s.newest_run["run_id"] == first_run.run_id]
    assert taken.reason == "after-run" and taken.tables["benchmark_results"] >= 4
    with duckdb.connect() as db:  # the Parquet files alone, read back without the results file
        rows = db.execute(
            f"SELECT count(*) FROM '{taken.path}/benchmark_results.parquet' WHERE run_id = ?", [first_run.run_id]
        ).fetchone()[0]
    assert rows == 4
