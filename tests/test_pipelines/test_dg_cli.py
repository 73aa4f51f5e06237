"""A user who prefers Dagster's newer `dg` command line gets the same project as `dagster job execute`:
the definitions check out, list the eight assets in their two groups, and a partition launches."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
DG = Path(sys.executable).with_name("dg")


def _dg(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "EVAL_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}
    (home / "dagster").mkdir(parents=True, exist_ok=True)
    return subprocess.run([str(DG), *args], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=300)


def test_dg_checks_and_lists_the_definitions(tmp_path):
    checked = _dg("check", "defs", home=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "All definitions loaded successfully" in checked.stdout + checked.stderr

    listed = _dg("list", "defs", "--json", home=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assets = {a["asset_key"]: a["group_name"] for a in json.loads(listed.stdout)["assets"]}
    assert assets == {
        "hardware_report": "deployment",
        "vllm_image": "deployment",
        "model_weights": "deployment",
        "vllm_service": "deployment",
        "smoke_test": "deployment",
        "answer_accuracy": "deployment",
        "benchmark_results": "deployment",
        "comparison_report": "reporting",
    }


def test_dg_launches_one_asset_of_one_partition(tmp_path):
    launched = _dg("launch", "--assets", "hardware_report", "--partition", "tiny-cpu-eager", home=tmp_path)
    output = launched.stdout + launched.stderr
    assert launched.returncode == 0, output[-3000:]
    assert "RUN_SUCCESS" in output and 'Finished execution of step "hardware_report"' in output
