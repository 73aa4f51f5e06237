"""A compiled deployment started again with the cache it kept loads its compiled graphs instead of
compiling them (real vLLM CPU build, the tiny model, the process runtime the pipeline uses)."""

from __future__ import annotations

from pathlib import Path

import pytest

from resources.config.eval_home import compile_cache_dir

pytestmark = pytest.mark.vllm


def _files(folder: Path) -> set[str]:
    return {str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file()}


def test_a_warm_start_loads_what_the_cold_start_compiled():
    from resources.config.loader import load_deployments
    from resources.runtime import runtime_for
    from resources.serving.vllm_args import config_hash
    from resources.weights.fetch import fetch_weights

    deployment = load_deployments()["tiny-cpu-compiled"]
    runtime = runtime_for(deployment)
    weights = fetch_weights(deployment.model_name, deployment.model)
    image = runtime.prepare_image()
    hash_ = config_hash(deployment, weights.identity, image.image_digest)
    cache = compile_cache_dir() / deployment.key / hash_
    try:
        cold = runtime.ensure_service(image, str(weights.path), hash_, cold_start=True)
        runtime.stop()
        after_cold = _files(cache)
        warm = runtime.ensure_service(image, str(weights.path), hash_)
    finally:
        runtime.stop()
    assert cold.cold_start and cold.compile_cache in ("miss", "empty") and not cold.reused
    assert after_cold, "the cold start left its compiled artifacts in the deployment's cache"
    assert not warm.cold_start and warm.compile_cache in ("hit", "kept") and not warm.reused
    # What the warm start needed was all there: it compiled nothing new (its speed is measured by
    # `make bench`, not asserted: on a loaded 2-core machine seconds are noise).
    assert _files(cache) == after_cold
    assert warm.kv_cache_tokens == cold.kv_cache_tokens
    print(
        f"\n[figures] tiny-cpu-compiled start-up: cold {cold.startup_s:.1f} s "
        f"(torch_compile {cold.phase_durations['torch_compile']:.0f} s), warm {warm.startup_s:.1f} s "
        f"(torch_compile {warm.phase_durations['torch_compile']:.0f} s)"
    )
