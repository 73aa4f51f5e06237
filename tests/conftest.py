"""Test set-up: a private copy of ``configs/`` and a temporary ``EVAL_HOME`` for the session.

Set before any project module is imported, because the partitions are read from the config
folder when the code loads. The copy moves the servers to test ports so a user's demo servers
(on the configs' own ports) are neither reused nor disturbed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# EVAL_TEST_PORT_OFFSET moves the configs' servers elsewhere, so two test sessions on one machine
# need not share ports (the test-only partitions below keep their fixed ports).
TEST_PORT_OFFSET = int(os.environ.setdefault("EVAL_TEST_PORT_OFFSET", "10000"))  # tests read it back

_session_dir = Path(tempfile.mkdtemp(prefix="vllm-eval-tests-"))
_configs = _session_dir / "configs"
shutil.copytree(PROJECT_ROOT / "configs", _configs)
for _path in (_configs / "deployments").glob("*.yaml"):
    _data = yaml.safe_load(_path.read_text())
    _runtime = _data.setdefault("runtime", {})
    _runtime["port"] = _runtime.get("port", 8000) + TEST_PORT_OFFSET
    _path.write_text(yaml.safe_dump(_data, sort_keys=False))
# Two partitions that exist only in the tests: a GPU deployment (this host has no GPU) and a
# CPU deployment whose server cannot start (a context longer than the model supports).
for _path in (_configs / "sweeps").glob("*.yaml"):
    _data = yaml.safe_load(_path.read_text())
    if "port" in _data:
        _data["port"] += TEST_PORT_OFFSET
        _path.write_text(yaml.safe_dump(_data, sort_keys=False))
(_configs / "params" / "cpu-too-long.yaml").write_text(
    "dtype: float32\nmax_model_len: 65536\nkv_cache_memory_bytes: 512M\nenforce_eager: true\n"
)
(_configs / "params" / "gpu-tp2.yaml").write_text("tensor_parallel_size: 2\ngpu_memory_utilization: 0.9\n")
_eager = yaml.safe_load((_configs / "deployments" / "tiny-cpu-eager.yaml").read_text())
_broken = {**_eager, "params": "cpu-too-long", "runtime": {**_eager["runtime"], "port": 18199}}
(_configs / "deployments" / "tiny-cpu-broken.yaml").write_text(yaml.safe_dump(_broken, sort_keys=False))
_gpu = {**_eager, "params": "gpu-tp2", "runtime": {"kind": "process", "device": "gpu", "port": 18198}}
(_configs / "deployments" / "tiny-gpu-tp2.yaml").write_text(yaml.safe_dump(_gpu, sort_keys=False))
# Docker runtime partitions (tests/docker/): vLLM's CPU build in a container built FROM a locally
# made vllm/vllm-openai base, with this interpreter and environment bind-mounted read-only at
# the same paths; a broken twin; and an external endpoint pointing at the first one's port.
# Container names come from partition keys, so each test session gets its own keys and ports:
# two sessions on one engine never replace each other's containers.
DOCKER_SUFFIX = _session_dir.name.rsplit("-", 1)[-1].lower().replace("_", "0")[:8]
os.environ["EVAL_TEST_DOCKER_SUFFIX"] = DOCKER_SUFFIX
_docker_port = 8230 + 2 * (int(hashlib.sha256(DOCKER_SUFFIX.encode()).hexdigest(), 16) % 35)
shutil.copytree(PROJECT_ROOT / "tests" / "docker" / "cpu-image", _configs / "images" / "tiny-cpu")
_mounts = sorted({str(PROJECT_ROOT), sys.base_prefix, sys.prefix})
_docker = {
    **_eager,
    "runtime": {
        "kind": "docker",
        "device": "cpu",
        "port": _docker_port,
        "startup_timeout_s": 240,
        "env": {"PYTHONPATH": str(PROJECT_ROOT)},
        "docker": {
            "image": {
                "build": {
                    "context": "images/tiny-cpu",
                    "repository": "vllm-eval-test/tiny-cpu",
                    "args": {"BASE_IMAGE": "vllm/vllm-openai:local-cpu-base", "BUILD_MARKER": "1"},
                }
            },
            "shm_size": "1g",
            "vllm_command": [sys.executable, "-m", "resources.serving.vllm_cli"],
            "python": sys.executable,
            "volumes": [
                f"{path}:{path}:ro"
                for path in _mounts
                if not any(path != other and path.startswith(other + "/") for other in _mounts)
            ],
        },
    },
    "benchmarks": [{"name": "short-burst", "input_len": 128, "output_len": 64, "num_prompts": 32}],
}
(_configs / "deployments" / f"tiny-cpu-docker-{DOCKER_SUFFIX}.yaml").write_text(
    yaml.safe_dump(_docker, sort_keys=False)
)
_docker_broken = {**_docker, "params": "cpu-too-long", "runtime": {**_docker["runtime"], "port": _docker_port + 1}}
(_configs / "deployments" / f"tiny-cpu-docker-broken-{DOCKER_SUFFIX}.yaml").write_text(
    yaml.safe_dump(_docker_broken, sort_keys=False)
)
_external = {
    **_docker,
    "runtime": {"kind": "external", "device": "cpu", "base_url": f"http://127.0.0.1:{_docker_port}"},
}
(_configs / "deployments" / f"tiny-external-{DOCKER_SUFFIX}.yaml").write_text(
    yaml.safe_dump(_external, sort_keys=False)
)
# Fault and secret partitions (tests/assets_tests/test_faults_and_secrets.py): a server that
# needs an API key, one with a benchmark long enough to be interrupted, and a second eager
# deployment that runs beside the first.
_secured = {**_eager, "runtime": {**_eager["runtime"], "port": 18197, "api_key_env": "EVAL_TEST_API_KEY"}}
(_configs / "deployments" / "tiny-cpu-secured.yaml").write_text(yaml.safe_dump(_secured, sort_keys=False))
_long = {
    **_eager,
    "runtime": {**_eager["runtime"], "port": 18196},
    "benchmarks": [{"name": "long", "input_len": 128, "output_len": 256, "num_prompts": 2000, "max_concurrency": 2}],
}
(_configs / "deployments" / "tiny-cpu-long.yaml").write_text(yaml.safe_dump(_long, sort_keys=False))
_beside = {**_eager, "runtime": {**_eager["runtime"], "port": 18195}, "benchmarks": _eager["benchmarks"][:1]}
(_configs / "deployments" / "tiny-cpu-beside.yaml").write_text(yaml.safe_dump(_beside, sort_keys=False))
# A deployment whose smoke prompt expects the answer "42" (tests/assets_tests/test_smoke_gate.py):
# the tiny model answers noise, so its smoke check fails for real.
_expects_42 = {
    **_eager,
    "runtime": {**_eager["runtime"], "port": 8190 + TEST_PORT_OFFSET},
    "smoke": [
        {
            "name": "arithmetic",
            "messages": [{"role": "user", "content": "What is 17 + 25? Answer with the number only."}],
            "max_tokens": 16,
            "temperature": 0,
            "expect": {"contains": "42"},
        }
    ],
}
(_configs / "deployments" / "tiny-cpu-expects-42.yaml").write_text(yaml.safe_dump(_expects_42, sort_keys=False))
# A deployment whose one scenario runs three times per run, priced per host-hour
# (tests/assets_tests/test_repeat_and_cost.py). Three, so the result always has an interval: two
# when at least two repetitions are valid, three when fewer are (as on a busy machine).
_repeated = {
    **_eager,
    "runtime": {**_eager["runtime"], "port": 8189 + TEST_PORT_OFFSET},
    "cost": {"per_hour_usd": 0.40, "unit": "host"},
    "benchmarks": [{"name": "short-thrice", "input_len": 64, "output_len": 32, "num_prompts": 16, "repeat": 3}],
}
(_configs / "deployments" / "tiny-cpu-repeated.yaml").write_text(yaml.safe_dump(_repeated, sort_keys=False))
# A SmolLM2 deployment of its own model and parameter files, which the planted-fault tests
# (tests/assets_tests/test_answer_faults.py) rewrite between runs of the same partition: weights
# damaged, dtype changed, a wrong chat template.
shutil.copy(_configs / "models" / "smollm2-135m-instruct.yaml", _configs / "models" / "smollm2-faults.yaml")
shutil.copy(_configs / "params" / "cpu-eager-bf16.yaml", _configs / "params" / "cpu-faults.yaml")
_smollm2 = yaml.safe_load((_configs / "deployments" / "smollm2-cpu.yaml").read_text())
# Its smoke prompt expects nothing: a damaged model would fail smollm2-cpu's smoke expectations
# before its answers were scored, and here the accuracy verdict is what is tested.
_faults = {
    **_smollm2,
    "model": "smollm2-faults",
    "params": "cpu-faults",
    "smoke": [{"name": "hello", "messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 8}],
    "runtime": {**_smollm2["runtime"], "port": 18194},
    "benchmarks": [{"name": "short", "input_len": 32, "output_len": 16, "num_prompts": 8}],
}
(_configs / "deployments" / "smollm2-cpu-faults.yaml").write_text(yaml.safe_dump(_faults, sort_keys=False))
# The workloads beyond random prompts, on SmolLM2 (tests/assets_tests/test_workloads_e2e.py): its
# 49,152-token vocabulary keeps vLLM's random prompts apart (the tiny model's 622 tokens do not), so
# each workload's prefix-cache hits are its own: random prompts with 2 warm-ups, a shared system
# prompt of two 128-token blocks (vLLM's CPU build caches whole 128-token blocks), the shipped bursty
# trace, and three turns of conversations with replies long enough to fill a block.
_workloads = {
    **{k: v for k, v in _smollm2.items() if k != "accuracy"},
    "smoke": [{"name": "hello", "messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 8}],
    "runtime": {**_smollm2["runtime"], "port": 18191},
    "benchmarks": [
        {"name": "random", "input_len": 256, "output_len": 8, "num_prompts": 16, "max_concurrency": 4, "warmups": 2},
        {
            "name": "shared-prefix",
            "input_len": 320,
            "output_len": 8,
            "num_prompts": 16,
            "max_concurrency": 4,
            "warmups": 1,
            "workload": {"kind": "shared_prefix", "prefix_len": 256},
        },
        {
            "name": "trace",
            "input_len": 192,
            "output_len": 16,
            "num_prompts": 32,
            "workload": {"kind": "trace", "file": "bursty-chat-small"},
        },
        {
            "name": "chat",
            "input_len": 100,
            "output_len": 64,
            "num_prompts": 8,
            "max_concurrency": 4,
            "workload": {"kind": "multi_turn", "file": "museum-chat", "turns": 3},
        },
    ],
}
(_configs / "deployments" / "smollm2-cpu-workloads.yaml").write_text(yaml.safe_dump(_workloads, sort_keys=False))
# A sweep of the tiny model whose first point cannot start (a KV cache of 1 KiB holds no block) and
# whose second can (tests/assets_tests/test_parameter_sweep.py): the sweep must go on past a failure.
_failing = {
    "base": "tiny-cpu-eager",
    "port": 18192,
    "points": [{"kv_cache_memory_bytes": "1K"}, {"max_num_seqs": 4}],
    "benchmarks": [{"name": "short", "input_len": 32, "output_len": 16, "num_prompts": 8}],
}
(_configs / "sweeps" / "tiny-cpu-failing.yaml").write_text(yaml.safe_dump(_failing, sort_keys=False))
os.environ["EVAL_CONFIG_DIR"] = str(_configs)
os.environ["EVAL_HOME"] = str(_session_dir / "eval")
os.environ["DAGSTER_HOME"] = str(_session_dir / "eval" / "dagster")


@pytest.fixture(scope="session")
def eval_home() -> Path:
    return Path(os.environ["EVAL_HOME"])


@pytest.fixture(scope="session")
def test_configs() -> Path:
    return _configs


@pytest.fixture(scope="session", autouse=True)
def _stop_servers_at_end():
    yield
    from resources.config.eval_home import services_dir
    from resources.runtime.process import stop_service

    for folder in services_dir().glob("*"):
        stop_service(folder.name)


# Fixtures that reach something beyond Python, and the marker a test using one must carry (see
# pyproject.toml): a test without it would run in `make test-fast`, where that thing is absent.
PREREQUISITE_MARKERS = {
    "docker_client": "docker",
    "base_image": "docker",
    "gpu_host_engine": "docker",
    "ssh_host_engine": "docker",
    "pg_url": "postgres",
    "chromium_executable": "browser",
}


def pytest_collection_modifyitems(config, items):
    unmarked = [
        f"{item.nodeid}: uses {fixture}, so mark it @pytest.mark.{marker}"
        for item in items
        for fixture, marker in PREREQUISITE_MARKERS.items()
        if fixture in item.fixturenames and item.get_closest_marker(marker) is None
    ]
    if unmarked:
        raise pytest.UsageError("tests that need more than Python must be marked with what:\n" + "\n".join(unmarked))
