"""The session's Dagster instance, and a way to run the chain for a partition on it."""

import pytest
from dagster import DagsterInstance


@pytest.fixture(scope="session")
def instance(eval_home):
    from pipelines.instance import ensure_dagster_home

    ensure_dagster_home()
    return DagsterInstance.get()


@pytest.fixture(scope="session")
def run_chain(instance):
    """Runs deploy_and_evaluate for a partition, as ``dagster job execute`` would, in this process."""
    from pipelines.definitions import defs

    def run(partition: str):
        return defs.resolve_job_def("deploy_and_evaluate").execute_in_process(
            partition_key=partition, instance=instance, raise_on_error=False
        )

    return run
