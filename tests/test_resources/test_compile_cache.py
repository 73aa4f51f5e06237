"""vLLM's compile cache is kept per deployment and configuration, and emptied only when asked."""

from __future__ import annotations

import pytest

from resources.runtime.compile_cache import local_cache, volume_name, wants_cold_start


def test_a_cold_start_is_asked_for_with_a_run_tag():
    assert wants_cold_start({"cold_start": "true"}) and wants_cold_start({"cold_start": "1"})
    assert not wants_cold_start({}) and not wants_cold_start({"cold_start": "false"})


def test_the_cache_survives_a_warm_start_and_is_emptied_by_a_cold_one(eval_home):
    folder = local_cache("tiny-cpu-compiled", "aaaa", cold=False)
    (folder / "torch_compile_cache").mkdir()
    assert local_cache("tiny-cpu-compiled", "aaaa", cold=False) == folder
    assert (folder / "torch_compile_cache").exists(), "a warm start keeps what vLLM saved"
    assert not any(local_cache("tiny-cpu-compiled", "aaaa", cold=True).iterdir()), "a cold start begins empty"


def test_a_changed_configuration_never_sees_the_old_artifacts(eval_home):
    old = local_cache("tiny-cpu-compiled", "old0", cold=False)
    (old / "artifact").write_text("compiled for the old image")
    new = local_cache("tiny-cpu-compiled", "new1", cold=False)
    assert new != old and not any(new.iterdir())
    assert not old.exists(), "the old configuration's folder can never be loaded again: removed"


@pytest.mark.parametrize("partition", ["tiny-cpu-compiled", "qwen3-30b-a3b-fp8-2x24gb"])
def test_a_container_keeps_its_cache_on_a_named_volume_per_configuration(partition):
    assert volume_name(partition, "0123abcd") == f"vllm-eval-cache-{partition}-0123abcd"


def test_a_warm_start_with_less_kv_cache_than_before_is_flagged_with_the_known_cause():
    from resources.results.startup import kv_capacity_verdict

    # The H200 recordings' capacity (tests/fixtures/vllm/startup_gpu_h200_warm_cache.log), and a
    # start that got 20 GiB less of it.
    shrunk = kv_capacity_verdict(1_594_000, [2_031_120, 2_031_120])
    assert not shrunk.passed and "21.5% fewer than the 2,031,120" in shrunk.description
    assert "54122" in shrunk.description
    assert kv_capacity_verdict(2_031_120, [2_031_120]).passed
    assert kv_capacity_verdict(2_031_120, []).passed, "nothing to compare with is no finding"
