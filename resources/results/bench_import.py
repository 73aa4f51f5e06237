"""Imports results saved by ``vllm bench serve --save-result`` outside the pipeline.

Every number goes through unchanged, and the run is marked ``origin = 'imported'`` so nobody
takes it for a pipeline run. The run id is derived from the file's bytes: importing the same
file twice replaces its rows instead of duplicating them.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path

from resources.results.bench_json import BenchResultError, parse_bench_result, parse_request_rows
from resources.results.store import ResultsStore
from resources.results.validity import judge_validity


def _started_at(data: dict) -> datetime | None:
    try:
        return datetime.strptime(str(data.get("date")), "%Y%m%d-%H%M%S")
    except ValueError:
        return None


def import_result_file(store: ResultsStore, path: Path, partition: str, scenario: str | None = None) -> str:
    raw_bytes = path.read_bytes()
    try:
        data = json.loads(raw_bytes)
    except json.JSONDecodeError as exc:
        raise BenchResultError(
            f"{path}: not JSON ({exc.msg} at line {exc.lineno}); expected a file "
            "written by vllm bench serve --save-result"
        ) from None
    if not isinstance(data, dict):
        raise BenchResultError(f"{path}: expected a JSON object written by vllm bench serve --save-result")
    parsed = parse_bench_result(data, str(path))
    run_id = "import-" + hashlib.sha256(raw_bytes).hexdigest()[:16]
    name = scenario or data.get("label") or path.stem
    started = _started_at(data)
    run = {
        "run_id": run_id,
        "partition": partition,
        "started_at": started,
        "finished_at": started,
        "status": "succeeded",
        "origin": "imported",
        "model_id": data.get("model_id"),
        "image_ref": None,
        "vllm_version": None,
        "hardware_fingerprint": None,
        "config_hash": None,
        "serve_args": None,
    }
    row = {
        "run_id": run_id,
        "partition": partition,
        "scenario": name,
        **parsed,
        "scenario_group": name,
        "num_prompts": data.get("num_prompts"),
        "seed": None,
        "prefix_caching": "unknown",
        "metric_definitions": "vllm",
        "bench_args": None,
        "result_file": str(path.resolve()),
    }
    request_rows = parse_request_rows(data)
    # No host measurements come with an imported file: validity from what the file itself shows.
    row |= judge_validity(parsed, request_rows).as_row()
    requests = [{"run_id": run_id, "partition": partition, "scenario": name, **r} for r in request_rows]
    store.record_run(run, [row], requests)
    return run_id
