"""Dagster resources: thin configurable handles on the project's outside systems."""

from __future__ import annotations

from pathlib import Path

from dagster import ConfigurableResource

from resources.config.loader import config_dir, load_deployments
from resources.config.models import Deployment
from resources.results.store import ResultsStore


class DeploymentCatalog(ConfigurableResource):
    """The deployments under ``configs/`` (or ``EVAL_CONFIG_DIR``), read fresh for each step."""

    config_root: str = ""

    def get(self, partition: str) -> Deployment:
        root = Path(self.config_root) if self.config_root else config_dir()
        deployments = load_deployments(root)
        if partition not in deployments:
            raise KeyError(f"no deployment file for partition '{partition}' under {root / 'deployments'}")
        return deployments[partition]

    def regression_policies(self) -> dict:
        """Each partition's regression policy, for judging results outside their own run (the report)."""
        root = Path(self.config_root) if self.config_root else config_dir()
        return {key: deployment.spec.regression for key, deployment in load_deployments(root).items()}


class ResultsDatabase(ConfigurableResource):
    """The DuckDB results file; writes are short transactions retried while another process holds it."""

    path: str
    lock_wait_s: float = 120.0

    def store(self) -> ResultsStore:
        return ResultsStore(Path(self.path), self.lock_wait_s)
