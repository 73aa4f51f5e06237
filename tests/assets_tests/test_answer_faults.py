"""Planted faults a deployment's answers must reveal, each on the real CPU server with SmolLM2.

One partition is run five times, its model and parameter files rewritten between runs as a user's
change would: an unchanged rerun, bf16 -> fp32, a damaged copy of the weights (noise added to a few
layers), then the right weights behind a wrong chat template. The verdict compares each run with
the majority of the runs before it (resources/evaluation/verdict.py).
"""

from __future__ import annotations

import json
import shutil

import pytest
import yaml
from dagster import AssetKey

PARTITION = "smollm2-cpu-faults"
UP_TO_ANSWERS = [
    AssetKey(name)
    for name in ("hardware_report", "vllm_image", "model_weights", "vllm_service", "smoke_test", "answer_accuracy")
]
# Role markers dropped: the model reads bare text, not a chat, and has no cue that it should answer.
WRONG_TEMPLATE = "{% for m in messages %}{{ m['content'] }}\n{% endfor %}"

pytestmark = pytest.mark.vllm


def damage(source, target, layers=range(8, 12), scale=0.3) -> None:
    """A copy of the weights with Gaussian noise (0.3 of each weight's spread) added to the MLP
    output projections of four of the 30 layers: the model still talks, and answers worse."""
    import torch
    from safetensors.torch import load_file, save_file

    shutil.copytree(source, target)
    state = load_file(str(source / "model.safetensors"))
    generator = torch.Generator().manual_seed(0)
    for layer in layers:
        name = f"model.layers.{layer}.mlp.down_proj.weight"
        weight = state[name].float()
        state[name] = (weight + torch.randn(weight.shape, generator=generator) * weight.std() * scale).to(
            torch.bfloat16
        )
    save_file(state, str(target / "model.safetensors"), metadata={"format": "pt"})


@pytest.fixture(scope="module")
def planted(instance, test_configs, eval_home, tmp_path_factory):
    from pipelines.definitions import defs
    from resources.results.store import ResultsStore

    model_file, params_file = (
        test_configs / "models" / "smollm2-faults.yaml",
        test_configs / "params" / "cpu-faults.yaml",
    )
    model, params = yaml.safe_load(model_file.read_text()), yaml.safe_load(params_file.read_text())
    job = defs.resolve_job_def("deploy_and_evaluate")
    store = ResultsStore(eval_home / "results.duckdb")
    outcomes = {}

    def run(name: str):
        result = job.execute_in_process(
            partition_key=PARTITION, instance=instance, raise_on_error=False, asset_selection=UP_TO_ANSWERS
        )
        checks = {
            e.event_specific_data.check_name: e.event_specific_data
            for e in result.all_events
            if e.event_type_value == "ASSET_CHECK_EVALUATION"
        }
        smoke, no_drop = checks.get("server_answers"), checks.get("accuracy_no_drop")
        rows = store.query("SELECT * FROM accuracy_runs WHERE run_id = ?", [result.run_id])
        outcomes[name] = {
            "success": result.success,
            "run_id": result.run_id,
            "smoke_passed": smoke.passed if smoke else None,
            "no_drop": (no_drop.passed, no_drop.severity.value) if no_drop else None,
            "accuracy": rows.iloc[0].to_dict() if len(rows) else None,
        }
        row = outcomes[name]["accuracy"]
        print(
            f"{name}: success {result.success}, smoke {outcomes[name]['smoke_passed']}, "
            + (
                f"accuracy {row['accuracy']:.3f}, verdict {row['verdict']}: {row['verdict_sentence']}"
                if row
                else "no accuracy"
            )
        )

    try:
        run("baseline")
        run("unchanged")
        params_file.write_text(yaml.safe_dump({**params, "dtype": "float32"}))
        run("fp32")
        converted = eval_home / "models" / "smollm2-faults"
        damaged = tmp_path_factory.mktemp("damaged") / "smollm2"
        damage(converted, damaged)
        model_file.write_text(
            yaml.safe_dump(
                {
                    **{k: v for k, v in model.items() if k not in ("package", "version", "file")},
                    "source": "local",
                    "path": str(damaged),
                }
            )
        )
        run("damaged")
        model_file.write_text(yaml.safe_dump(model))
        template = tmp_path_factory.mktemp("template") / "wrong.jinja"
        template.write_text(WRONG_TEMPLATE)
        params_file.write_text(
            yaml.safe_dump({**params, "dtype": "float32", "extra_args": ["--chat-template", str(template)]})
        )
        run("wrong-template")
    finally:
        model_file.write_text(yaml.safe_dump(model))
        params_file.write_text(yaml.safe_dump(params))
        from resources.runtime.process import stop_service

        stop_service(PARTITION)
    return outcomes


def test_a_first_run_scores_the_trained_model_and_has_no_baseline(planted):
    first = planted["baseline"]
    assert first["success"] and first["smoke_passed"]
    row = first["accuracy"]
    assert row["verdict"] == "no baseline" and row["items"] >= 250 and row["errors"] == 0
    assert 0.30 < row["accuracy"] < 0.80 and row["accuracy_low"] < row["accuracy"] < row["accuracy_high"]


def test_an_unchanged_rerun_is_not_called(planted):
    row = planted["unchanged"]["accuracy"]
    assert planted["unchanged"]["success"]
    assert row["verdict"] == "within noise" and json.loads(row["suspects"]) == []
    assert planted["unchanged"]["no_drop"] == (True, "ERROR")


def test_bf16_to_fp32_is_drift_at_most_never_a_drop(planted):
    row = planted["fp32"]["accuracy"]
    assert planted["fp32"]["success"] and row["verdict"] in ("within noise", "gain")
    assert json.loads(row["suspects"]) == ["dtype: bfloat16 -> float32"]
    assert f"{row['changed_texts']} of {row['paired_items']} greedy answers changed" in row["verdict_sentence"]


def test_a_damaged_copy_of_the_weights_is_called_a_drop_naming_the_weights(planted):
    outcome = planted["damaged"]
    row = outcome["accuracy"]
    assert row["verdict"] == "drop" and row["lost"] > row["gained"] and row["p_value"] < 0.05
    suspects = json.loads(row["suspects"])
    assert any(s.startswith("weights identity: sha256:") and "gguf-to-hf" in s for s in suspects)
    assert row["verdict_sentence"].startswith("accuracy DROP")
    assert outcome["no_drop"] == (False, "ERROR")  # red in the UI: the deployment's severity is error


def test_a_wrong_chat_template_is_called_a_drop_naming_the_chat_template(planted):
    row = planted["wrong-template"]["accuracy"]
    assert row["verdict"] == "drop" and row["lost"] > row["gained"]
    assert any(s.startswith("chat template: ") for s in json.loads(row["suspects"]))


def test_with_the_shipped_smoke_expectations_a_damaged_model_stops_at_the_smoke_test():
    """smollm2-cpu's smoke prompts expect Paris and a greeting: the same damaged weights behind them
    fail the blocking smoke check, so nothing is scored or benchmarked behind a broken server."""
    from pathlib import Path

    from resources.config.loader import load_partition

    shipped = load_partition("smollm2-cpu", Path(__file__).resolve().parents[2] / "configs")
    assert [p.expect.contains or p.expect.matches for p in shipped.spec.smoke] == [
        "Paris",
        r"(?i)\b(hello|hi|hey|greetings)\b",
    ]
