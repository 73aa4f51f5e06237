"""Dagster resources: thin configurable handles on the project's outside systems."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from dagster import ConfigurableResource
from pydantic import Field

from resources.config.eval_home import results_db_path
from resources.config.loader import config_dir, load_deployments, load_partition, load_sweep_points
from resources.config.models import Deployment
from resources.evaluation.record import accuracy_not_measured
from resources.results.store import ResultsStore
from resources.runtime import Runtime, runtime_for


class DeploymentCatalog(ConfigurableResource):
    """The deployments under ``configs/`` (or ``EVAL_CONFIG_DIR``), read fresh for each step."""

    config_root: str = ""

    @property
    def root(self) -> Path:
        return Path(self.config_root) if self.config_root else config_dir()

    def get(self, partition: str) -> Deployment:
        return load_partition(partition, self.root)

    def runtime(self, partition: str) -> Runtime:
        """Where the partition's vLLM runs (process, docker or external), chosen from its config."""
        return runtime_for(self.get(partition), self.root)

    def every_partition(self) -> dict[str, Deployment]:
        """The deployments and every sweep's points, keyed by partition."""
        return load_deployments(self.root) | load_sweep_points(self.root)

    def regression_policies(self) -> dict:
        """Each partition's regression policy, for judging results outside their own run (the report)."""
        return {key: deployment.spec.regression for key, deployment in self.every_partition().items()}

    def accuracy_not_measured(self) -> dict[str, str]:
        """Why a partition has no accuracy ("n/a: random weights", ...), for those without one (the report)."""
        reasons = {key: accuracy_not_measured(deployment) for key, deployment in self.every_partition().items()}
        return {key: reason for key, reason in reasons.items() if reason}


class ResultsDatabase(ConfigurableResource):
    """The DuckDB results file; writes are short transactions retried while another process holds it."""

    path: str = Field(
        default="", description="The DuckDB file (default: EVAL_HOME/results.duckdb, read when the store is opened)."
    )
    lock_wait_s: float = 120.0
    snapshots_keep: Optional[int] = Field(
        default=None,
        description="How many snapshots of the file to keep under snapshots/ beside it "
        "(default: EVAL_RESULTS_SNAPSHOTS_KEEP, else 10).",
    )

    def store(self) -> ResultsStore:
        return ResultsStore(Path(self.path) if self.path else results_db_path(), self.lock_wait_s, self.snapshots_keep)
