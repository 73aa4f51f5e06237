"""What a kept compile cache saves at start-up, measured: part of ``make bench``.

For one compiled CPU deployment (default ``tiny-cpu-compiled``), on this machine: start the server
from an empty compile cache (cold, as a fresh container every night would), stop it, start it
again with the cache vLLM just wrote (warm, as the pipeline's kept cache does), stop it; repeat.
Both starts go through the process runtime the pipeline uses, in a private EVAL_HOME and on a
private port. Prints each start's seconds to healthy and its phases, the medians, and the line
``start-up warm/cold: R``. A script that prints figures, not a test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from benchmarks.pipeline_overhead import private_configs, wait_port_free  # noqa: E402


def one_start(runtime, image, weights_path: str, config_hash: str, cold: bool) -> dict:
    service = runtime.ensure_service(image, weights_path, config_hash, cold_start=cold)
    runtime.stop()
    wait_port_free(runtime.deployment.runtime.host, runtime.deployment.runtime.port)
    return {
        "cold": cold,
        "startup_s": service.startup_s,
        "cache": service.compile_cache,
        "phases": service.phase_durations,
        "kv_cache_tokens": service.kv_cache_tokens,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partition", default="tiny-cpu-compiled")
    parser.add_argument("--rounds", type=int, default=2, help="cold and warm starts, interleaved, this many times")
    parser.add_argument("--port", type=int, default=8330)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="startup-cache-") as tmp:
        folder = Path(tmp)
        os.environ["EVAL_HOME"] = str(folder / "eval")
        os.environ["EVAL_CONFIG_DIR"] = str(private_configs(folder, args.partition, args.port))
        from resources.config.loader import load_deployments
        from resources.runtime import runtime_for
        from resources.serving.vllm_args import config_hash
        from resources.weights.fetch import fetch_weights

        deployment = load_deployments()[args.partition]
        runtime = runtime_for(deployment)
        weights = fetch_weights(deployment.model_name, deployment.model)
        image = runtime.prepare_image()
        hash_ = config_hash(deployment, weights.identity, image.image_digest)
        starts = []
        for round_no in range(1, args.rounds + 1):
            for cold in (True, False):
                start = one_start(runtime, image, str(weights.path), hash_, cold)
                starts.append(start)
                phases = ", ".join(f"{name} {seconds:.0f}" for name, seconds in start["phases"].items())
                print(
                    f"round {round_no} {'cold' if cold else 'warm'}: {start['startup_s']:.1f} s to healthy, "
                    f"compile cache {start['cache']}; phases (s): {phases}",
                    flush=True,
                )
    cold = [s["startup_s"] for s in starts if s["cold"]]
    warm = [s["startup_s"] for s in starts if not s["cold"]]
    compile_cold = [s["phases"].get("torch_compile", 0.0) for s in starts if s["cold"]]
    compile_warm = [s["phases"].get("torch_compile", 0.0) for s in starts if not s["cold"]]
    print(f"\n{args.partition}, {args.rounds} round(s):")
    print(
        f"  cold start: median {statistics.median(cold):.1f} s (range {min(cold):.1f}-{max(cold):.1f}), "
        f"torch_compile phase median {statistics.median(compile_cold):.0f} s"
    )
    print(
        f"  warm start: median {statistics.median(warm):.1f} s (range {min(warm):.1f}-{max(warm):.1f}), "
        f"torch_compile phase median {statistics.median(compile_warm):.0f} s"
    )
    print(f"start-up warm/cold: {statistics.median(warm) / statistics.median(cold):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
