"""A run of a deployment whose weights revision is still UNPINNED stops at its first step, before
anything is measured, pulled or downloaded, and says how to find the commit to pin."""


def test_the_qwen_recipe_with_its_unpinned_revision_is_refused_by_a_run(run_chain):
    result = run_chain("qwen3-30b-a3b-fp8-2x24gb")

    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = failure.event_specific_data.error.to_string()
    assert "UnpinnedError" in message and "revision is UNPINNED" in message
    assert "git ls-remote https://huggingface.co/Qwen/Qwen3-30B-A3B-Instruct-2507-FP8 refs/heads/main" in message
    assert result.get_asset_materialization_events() == []
