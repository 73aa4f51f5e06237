"""What a failed or killed evaluation leaves behind, and its clean-up.

A step can fail before ``benchmark_results`` records anything, and a run killed from the UI
records nothing at all. The run-failure sensor calls this so the history shows the failure and
no server is left holding the host when the deployment asked for it to be stopped.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Callable

from resources.config.eval_home import results_db_path
from resources.config.loader import ConfigError, load_partition
from resources.results.store import ResultsStore
from resources.runtime import runtime_for


def clean_up_failed_run(run_id: str, partition: str | None, error: str, log: Callable[[str], None] = print) -> None:
    if not partition:
        return
    try:
        deployment = load_partition(partition)
    except ConfigError:
        deployment = None  # a partition whose file is gone or broken: nothing of it to stop
    failed = {"run_id": run_id, "partition": partition, "error": error[:4000], "finished_at": _utcnow()}
    if deployment is not None and deployment.sweep is not None:
        failed |= {"sweep": deployment.sweep, "sweep_settings": json.dumps(deployment.sweep_settings)}
    ResultsStore(results_db_path()).record_failed_run(failed)
    if deployment is not None and deployment.runtime.teardown == "stop" and runtime_for(deployment).stop():
        log(f"stopped the server that failed run {run_id} left for '{partition}'")


def _utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)
