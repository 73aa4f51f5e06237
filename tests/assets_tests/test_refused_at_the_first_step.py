"""A run that cannot succeed stops at its first step, before anything is pulled, downloaded, started
or measured, and says why: a weights revision still UNPINNED (with how to find the commit to pin),
a GPU deployment on a host without an NVIDIA driver (the pre-flight gate). No vLLM server starts."""


def test_the_qwen_recipe_with_its_unpinned_revision_is_refused_by_a_run(run_chain):
    result = run_chain("qwen3-30b-a3b-fp8-2x24gb")

    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = failure.event_specific_data.error.to_string()
    assert "UnpinnedError" in message and "revision is UNPINNED" in message
    assert "git ls-remote https://huggingface.co/Qwen/Qwen3-30B-A3B-Instruct-2507-FP8 refs/heads/main" in message
    assert result.get_asset_materialization_events() == []


def test_a_gpu_deployment_on_a_host_without_a_driver_stops_at_the_preflight_gate(run_chain):
    result = run_chain("tiny-gpu-tp2")
    assert not result.success
    [gates] = [c for c in result.get_asset_check_evaluations() if c.check_name == "preflight_gates"]
    assert not gates.passed and "NVIDIA driver" in gates.description
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert materialized == {"hardware_report"}, "nothing after the gate may run"
