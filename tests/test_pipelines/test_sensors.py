"""The two run sensors, evaluated as the daemon evaluates them: a tick over the instance's run
events after the sensor's cursor, for real runs of the chain (short ones that start no server: a
success of its first step, a failure at its pre-flight gate on this host without a GPU)."""

from __future__ import annotations

import pytest
from dagster import AssetKey, build_sensor_context, instance_for_test

from pipelines.definitions import defs
from pipelines.sensors import record_failed_evaluation, report_after_evaluation
from resources.config.eval_home import results_db_path
from resources.results.store import ResultsStore

CHAIN = defs.resolve_job_def("deploy_and_evaluate")


@pytest.fixture
def instance():
    with instance_for_test() as instance:
        yield instance


def _tick(sensor, instance, cursor):
    """One evaluation of ``sensor``, as the daemon runs it; returns its data (with the new cursor)."""
    data = sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=cursor))
    errors = [reaction.error for reaction in data.dagster_run_reactions if reaction.error]
    assert not errors, f"the sensor raised: {errors[0].to_string() if errors else ''}"
    return data


def _started(sensor, instance):
    """The sensor's first tick only sets its cursor after the events already there, as a newly
    started sensor does: it never reacts to runs from before it started."""
    first = _tick(sensor, instance, None)
    assert not first.run_requests
    return first.cursor


def _first_step_succeeds(instance, partition="tiny-cpu-eager"):
    result = CHAIN.execute_in_process(
        partition_key=partition, instance=instance, asset_selection=[AssetKey("hardware_report")]
    )
    assert result.success
    return result


def _fails_at_the_gate(instance):
    result = CHAIN.execute_in_process(partition_key="tiny-gpu-tp2", instance=instance, raise_on_error=False)
    assert not result.success, "a GPU deployment on a host without a driver stops at the pre-flight gate"
    return result


def _runs_row(run_id):
    return (
        ResultsStore(results_db_path())
        .query("SELECT partition, status, error FROM runs WHERE run_id = ?", [run_id])
        .to_dict("records")
    )


def test_each_successful_evaluation_asks_for_one_report_refresh_and_a_failed_one_for_none(instance):
    cursor = _started(report_after_evaluation, instance)
    _fails_at_the_gate(instance)
    quiet = _tick(report_after_evaluation, instance, cursor)
    assert quiet.run_requests == [], "a failed evaluation has no new results to report"

    succeeded = _first_step_succeeds(instance)
    data = _tick(report_after_evaluation, instance, quiet.cursor)
    [request] = data.run_requests
    assert request.run_key == f"report-after-{succeeded.run_id}"
    assert report_after_evaluation.job_name == "refresh_comparison_report"

    again = _tick(report_after_evaluation, instance, data.cursor)
    assert again.run_requests == [], "the cursor moved past that run: one refresh per evaluation"


def test_the_report_refresh_itself_asks_for_no_other_refresh(instance):
    cursor = _started(report_after_evaluation, instance)
    refresh = defs.resolve_job_def("refresh_comparison_report").execute_in_process(instance=instance)
    assert refresh.success
    assert _tick(report_after_evaluation, instance, cursor).run_requests == []


def test_a_run_that_failed_before_any_result_is_recorded_as_failed_with_the_failing_step(instance):
    cursor = _started(record_failed_evaluation, instance)
    failed = _fails_at_the_gate(instance)
    assert _runs_row(failed.run_id) == [], "the run itself recorded nothing: it never reached benchmark_results"

    _tick(record_failed_evaluation, instance, cursor)

    [row] = _runs_row(failed.run_id)
    assert row["partition"] == "tiny-gpu-tp2" and row["status"] == "failed"
    assert "hardware_report" in row["error"], "the error names the step that failed"


def test_a_failed_run_reported_by_the_sensor_is_recorded_without_touching_a_succeeded_one(instance):
    """A run whose results landed and which failed afterwards (killed as it finished, say) stays
    succeeded in the history: the late failure does not overwrite what was measured."""
    cursor = _started(record_failed_evaluation, instance)
    failed = _fails_at_the_gate(instance)
    store = ResultsStore(results_db_path())
    store.record_run({"run_id": failed.run_id, "partition": "tiny-gpu-tp2", "status": "succeeded"}, [])
    killed = _fails_at_the_gate(instance)

    _tick(record_failed_evaluation, instance, cursor)

    assert [r["status"] for r in _runs_row(failed.run_id)] == ["succeeded"]
    assert [r["status"] for r in _runs_row(killed.run_id)] == ["failed"]


def test_a_successful_run_is_not_recorded_as_failed(instance):
    cursor = _started(record_failed_evaluation, instance)
    succeeded = _first_step_succeeds(instance)
    _tick(record_failed_evaluation, instance, cursor)
    assert _runs_row(succeeded.run_id) == []
