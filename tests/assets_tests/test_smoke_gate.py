"""A smoke check that can fail, for real: the tiny model on vLLM's CPU build answers noise, so a
deployment whose smoke prompt expects "42" fails the blocking check ``server_answers``, the
failure shows the prompt, the reply and the missed expectation, and nothing is benchmarked."""

from __future__ import annotations

import duckdb
import pytest

pytestmark = pytest.mark.vllm

PARTITION = "tiny-cpu-expects-42"


def test_a_deployment_expecting_42_fails_its_smoke_check_and_is_not_benchmarked(run_chain, eval_home):
    result = run_chain(PARTITION)

    assert not result.success
    [check] = [c for c in result.get_asset_check_evaluations() if c.check_name == "server_answers"]
    assert not check.passed
    description = check.description
    assert "prompt 'arithmetic' (\"What is 17 + 25? Answer with the number only.\")" in description
    assert "expected the answer to contain '42'" in description
    reply = description.split('reply: "', 1)[1].split('"', 1)[0]
    assert reply and "42" not in reply, "the check shows what the model really answered"
    assert "prompt 'arithmetic (streamed)'" in description, "the streamed reply is checked too"

    smoke = next(e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == "smoke_test")
    assert smoke.materialization.metadata["passed"].value is False
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "benchmark_results" not in materialized
    executed = {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}
    assert "benchmark_results" not in executed and "smoke_test" in executed
    with duckdb.connect(str(eval_home / "results.duckdb"), read_only=True) as db:
        rows = db.execute("SELECT count(*) FROM benchmark_results WHERE run_id = ?", [result.run_id]).fetchone()
    assert rows == (0,)
