"""The comparison report shows how well each deployment answers beside how fast it is.

The history is written through the results store's own API, as the pipeline writes it: each run's
speed with ``record_run`` and its evaluation with ``record_accuracy``, the evaluation judged by the
accuracy verdict against the store's own ``accuracy_history`` (as ``answer_accuracy`` judges it,
without a server). Which deployments have no accuracy comes from the project's deployment configs.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from resources.dagster_resources import DeploymentCatalog
from resources.evaluation.verdict import judge_accuracy, wilson_interval
from resources.report.build import build_report
from resources.results.store import ResultsStore
from tests.test_resources.report_tables import section_table

NIGHT = datetime(2025, 6, 1, 2, 0)
TRAINED, RANDOM = "smollm2-cpu", "tiny-cpu-eager"
ITEMS = 299
PROVENANCE = {
    "eval_set": "everyday-facts",
    "eval_set_sha": "set-sha",
    "hardware_model": "cpu: 2 cores",
    "weights_source": "package",
    "weights_revision": "sha256:0f3a9c1d2b4e+gguf-to-hf/1",
    "dtype": "bfloat16",
    "kv_cache_dtype": "auto",
    "vllm_version": "0.32.0",
    "image_ref": "local",
    "image_digest": "local:vllm-cpu",
    "chat_template_sha": "template-1",
    "max_tokens": 16,
}


def speed_run(
    store: ResultsStore, partition: str, night: int, throughput: float = 160.0, tpot_ms: float = 30.0, **result
) -> str:
    run_id = f"{partition}-run{night}"
    run = {
        "run_id": run_id,
        "partition": partition,
        "status": "succeeded",
        "started_at": NIGHT + timedelta(days=night),
        "finished_at": NIGHT + timedelta(days=night, minutes=2),
        "model_id": partition,
        "hardware_fingerprint": "cpuhost",
        "image_digest": "local:vllm-cpu",
        "vllm_version": "0.32.0",
        "config_hash": f"cfg-{partition}",
        "device": "cpu",
        "gpu_count": 0,
        "active_params_b": 0.135,
        "bytes_per_param": 2.0,
    }
    store.record_run(
        run,
        [
            {
                "run_id": run_id,
                "partition": partition,
                "scenario": "short-burst",
                "scenario_group": "short-burst",
                "completed": 32,
                "failed": 0,
                "duration_s": 10.0,
                "output_throughput": throughput,
                "request_throughput": throughput / 64,
                "max_concurrency": 4,
                "mean_ttft_ms": 80.0,
                "median_ttft_ms": 75.0,
                "p99_ttft_ms": 150.0,
                "mean_tpot_ms": tpot_ms,
                "median_tpot_ms": tpot_ms,
                "p99_tpot_ms": tpot_ms * 1.4,
                "mean_itl_ms": tpot_ms,
                "input_len": 128,
                "output_len": 64,
                "valid": True,
                "stream_measured": True,
                **result,
            }
        ],
    )
    return run_id


def answers(right: set[int], reworded: set[int] = frozenset()) -> dict[str, tuple[bool, str]]:
    return {
        f"q{i:03d}": (
            i in right,
            f"{'right' if i in right else 'wrong'} answer {i}{' in other words' if i in reworded else ''}",
        )
        for i in range(ITEMS)
    }


def evaluate(store: ResultsStore, run_id: str, partition: str, replies: dict, errors: int = 0, **changes) -> dict:
    """One evaluation recorded as ``answer_accuracy`` records it: scored, judged against the store's
    history of the same deployment, hardware model and items, then written."""
    correct = sum(ok for ok, _ in replies.values())
    low, high = wilson_interval(correct, len(replies))
    row = {
        "run_id": run_id,
        "partition": partition,
        **PROVENANCE,
        "items": len(replies),
        "correct": correct,
        "errors": errors,
        "accuracy": correct / len(replies),
        "accuracy_low": low,
        "accuracy_high": high,
        **changes,
    }
    history = store.accuracy_history(partition, row["hardware_model"], row["eval_set_sha"], run_id, 5)
    verdict = judge_accuracy(row, replies, history)
    row |= verdict.as_row()
    store.record_accuracy(
        row,
        [
            {
                "item_id": item,
                "category": "facts",
                "correct": ok,
                "extracted": text,
                "reply": text,
                "completion_tokens": 4,
                "error": None,
            }
            for item, (ok, text) in replies.items()
        ],
    )
    return row


@pytest.fixture(scope="module")
def accuracy_na():
    """What the asset passes: the project's own configs say which deployments have no accuracy."""
    return DeploymentCatalog().accuracy_not_measured()


def test_the_project_configs_give_random_weight_models_no_accuracy_and_the_trained_model_one(accuracy_na):
    assert accuracy_na[RANDOM] == "n/a: random weights"
    assert accuracy_na["qwen3-30b-a3b-fp8-shape-h200"] == "n/a: random weights"
    assert TRAINED not in accuracy_na, "SmolLM2 has an evaluation set: its accuracy is measured"


def test_a_trained_model_shows_its_accuracy_and_interval_beside_its_speed_and_a_random_one_shows_na(
    tmp_path, accuracy_na
):
    store = ResultsStore(tmp_path / "results.duckdb")
    for night in (1, 2):
        evaluate(
            store,
            speed_run(store, TRAINED, night, throughput=160.0 + night),
            TRAINED,
            answers(set(range(160)), reworded=set(range(0, 299, 10)) if night == 2 else set()),
        )
        speed_run(store, RANDOM, night, throughput=2300.0, tpot_ms=2.5)
    report = build_report(store, tmp_path / "reports", accuracy_na=accuracy_na)

    rows = section_table(report.markdown, "Answers beside speed")
    low, high = wilson_interval(160, ITEMS)
    trained = rows[TRAINED]
    assert trained["accuracy (95 % interval)"] == f"{100 * 160 / ITEMS:.1f} % ({100 * low:.1f}–{100 * high:.1f})"
    assert trained["accuracy (95 % interval)"] == "53.5 % (47.8–59.1)"
    assert trained["right"] == "160 of 299 (everyday-facts)"
    assert trained["answers verdict"] == "within noise (0 lost, 0 gained, p = 1)"
    assert trained["greedy drift"] == "30 of 299 answers changed", "every tenth reply reworded, none rescored"
    assert trained["most output tok/s"] == "162.0 (short-burst)", "its speed in the same row"
    assert trained["lowest median TPOT ms"] == "30.00 (short-burst)"

    random = rows[RANDOM]
    assert random["accuracy (95 % interval)"] == "n/a: random weights"
    assert random["right"] == random["answers verdict"] == random["greedy drift"] == "–", "never a score"
    assert random["most output tok/s"] == "2,300.0 (short-burst)"
    assert f"1 of 2 deployments evaluated: 1 within noise. No accuracy (random weights): `{RANDOM}`." in report.markdown
    # The history shows the trained model's accuracy run by run, and no accuracy column for the other.
    history = report.markdown.split(f"`{TRAINED}` (per scenario", 1)[1].split("\n### ", 1)[0]
    assert history.count("53.5 % (within noise)") == 1 and history.count("53.5 % (no baseline)") == 1
    assert "| accuracy |" not in report.markdown.split(f"`{RANDOM}` (per scenario", 1)[1].split("\n### ", 1)[0]
    html = report.html_path.read_text()
    assert "53.5 % (47.8–59.1)" in html and "n/a: random weights" in html


def test_an_accuracy_drop_shows_its_verdict_with_the_suspects(tmp_path, accuracy_na):
    store = ResultsStore(tmp_path / "results.duckdb")
    for night in (1, 2):
        evaluate(store, speed_run(store, TRAINED, night), TRAINED, answers(set(range(160))))
    # The third night's weights are a damaged copy: 40 items lost, 2 gained, 10 more replies reworded.
    damaged = answers(set(range(40, 162)), reworded=set(range(200, 210)))
    row = evaluate(
        store, speed_run(store, TRAINED, 3), TRAINED, damaged, weights_revision="sha256:9bc2e71a55d0+gguf-to-hf/1"
    )
    assert row["verdict"] == "drop" and (row["lost"], row["gained"]) == (40, 2)

    report = build_report(store, tmp_path / "reports", accuracy_na=accuracy_na)
    trained = section_table(report.markdown, "Answers beside speed")[TRAINED]
    assert trained["accuracy (95 % interval)"].startswith("40.8 % (")
    assert trained["answers verdict"] == f"**drop** (40 lost, 2 gained, p = {row['p_value']:.3g})"
    assert trained["greedy drift"] == "52 of 299 answers changed"
    assert trained["what changed"] == "weights identity 0f3a9c1d2b4e… → 9bc2e71a55d0…"
    assert "1 of 1 deployments evaluated: 1 drop." in report.markdown
    assert "<strong>drop</strong>" in report.html_path.read_text()

    from resources.report.sections import accuracy_drop_count

    assert accuracy_drop_count(report.data.accuracy) == 1, "the asset's accuracy_drops metadata"


def test_failed_requests_make_an_evaluation_invalid_and_the_report_says_why(tmp_path, accuracy_na):
    store = ResultsStore(tmp_path / "results.duckdb")
    evaluate(store, speed_run(store, TRAINED, 1), TRAINED, answers(set(range(150))), errors=3)
    trained = section_table(
        build_report(store, tmp_path / "reports", accuracy_na=accuracy_na).markdown, "Answers beside speed"
    )[TRAINED]
    assert trained["answers verdict"] == "invalid: 3 of 299 requests failed"


def test_a_results_file_without_any_evaluation_reports_speed_and_says_not_evaluated_yet(tmp_path, accuracy_na):
    store = ResultsStore(tmp_path / "results.duckdb")
    speed_run(store, TRAINED, 1)
    speed_run(store, RANDOM, 1)
    speed_run(store, "retired-deployment", 1)  # in the results, no longer among the configs
    report = build_report(store, tmp_path / "reports", accuracy_na=accuracy_na)
    assert report.data.accuracy.empty
    rows = section_table(report.markdown, "Answers beside speed")
    assert rows[TRAINED]["accuracy (95 % interval)"] == "not evaluated yet"
    assert rows["retired-deployment"]["accuracy (95 % interval)"] == "not evaluated yet"
    assert rows[RANDOM]["accuracy (95 % interval)"] == "n/a: random weights"
    assert rows[TRAINED]["most output tok/s"] == "160.0 (short-burst)"
    assert "0 of 3 deployments evaluated." in report.markdown


def test_a_deployment_evaluated_without_speed_results_still_shows_its_accuracy(tmp_path, accuracy_na):
    # Its first benchmark failed after the evaluation was recorded: the run is there, its results are not.
    store = ResultsStore(tmp_path / "results.duckdb")
    store.record_failed_run(
        {
            "run_id": "smollm2-cpu-run1",
            "partition": TRAINED,
            "finished_at": NIGHT,
            "error": "benchmark scenario 'short-burst' failed",
        }
    )
    evaluate(store, "smollm2-cpu-run1", TRAINED, answers(set(range(100))))
    markdown = build_report(store, tmp_path / "reports", accuracy_na=accuracy_na).markdown
    assert "No benchmark results recorded yet" in markdown
    rows = section_table(markdown, "Answers beside speed")
    assert rows[TRAINED]["accuracy (95 % interval)"].startswith("33.4 % (")
    assert rows[TRAINED]["most output tok/s"] == rows[TRAINED]["speed verdicts"] == "–"


def test_a_deployment_whose_model_now_has_random_weights_shows_na_not_its_old_score(tmp_path, accuracy_na):
    # Evaluated while it served a trained model; its config now generates one with random weights.
    store = ResultsStore(tmp_path / "results.duckdb")
    evaluate(store, speed_run(store, RANDOM, 1), RANDOM, answers(set(range(200))))
    report = build_report(store, tmp_path / "reports", accuracy_na=accuracy_na)
    row = section_table(report.markdown, "Answers beside speed")[RANDOM]
    assert row["accuracy (95 % interval)"] == "n/a: random weights" and row["right"] == "–"
    assert "66.9 %" not in report.markdown and "66.9 %" not in report.html_path.read_text()
