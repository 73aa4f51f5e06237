"""The vLLM container as the engine sees it: GPU requests, the GPU guard, and failures that only
the container's state shows (killed for memory, a taken port). No vLLM starts here."""

from __future__ import annotations

import dataclasses
import os
import socket
import sys
import uuid

import pytest

from resources.config.loader import load_deployments
from resources.runtime.docker.container import ContainerStartError, GpusTaken, container_gpus, start_container
from resources.runtime.docker.spec import ContainerSpec, render_container_spec, sdk_create_kwargs
from resources.serving.startup_diagnosis import diagnose_container_state
from tests.prerequisites import require

pytestmark = pytest.mark.docker

PORT = 8000 + int(os.environ["EVAL_TEST_PORT_OFFSET"])  # the qwen deployment's port, as tests/conftest.py moves it

HF_SNAPSHOT = "/srv/hf/hub/models--Qwen--Qwen3-30B-A3B-Instruct-2507-FP8/snapshots/" + "a" * 40


@pytest.fixture
def cleanup(docker_client):
    names: list[str] = []
    yield names
    for name in names:
        try:
            docker_client.containers.get(name).remove(force=True)
        except Exception:
            pass


def _recipe_spec(key: str, image: str, **changes) -> ContainerSpec:
    spec = render_container_spec(load_deployments()[key], image, HF_SNAPSHOT, "0123456789abcdef")
    return dataclasses.replace(spec, name=f"vllm-eval-test-{uuid.uuid4().hex[:8]}", **changes)


def test_the_qwen_container_asks_the_engine_for_gpus_0_and_1_with_the_recipes_settings(
    docker_client, base_image, cleanup
):
    spec = _recipe_spec("qwen3-30b-a3b-fp8-2x24gb", base_image)
    container = docker_client.containers.create(**sdk_create_kwargs(spec, {}))  # created, not started: no GPU here
    cleanup.append(spec.name)
    host = docker_client.api.inspect_container(container.id)["HostConfig"]
    [request] = host["DeviceRequests"]
    assert request["DeviceIDs"] == ["0", "1"] and request["Capabilities"] == [["gpu"]]
    assert host["IpcMode"] == "host" and host["ShmSize"] == 16 * 2**30
    assert host["RestartPolicy"]["Name"] == "unless-stopped" and host["Init"] is True
    assert host["PortBindings"] == {f"{PORT}/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(PORT)}]}
    assert host["Binds"] == [
        f"{HF_SNAPSHOT.rsplit('/snapshots/', 1)[0]}:/model-repo:ro",
        "vllm-eval-cache-qwen3-30b-a3b-fp8-2x24gb-0123456789abcdef:/vllm-cache",
    ]
    config = docker_client.api.inspect_container(container.id)["Config"]
    assert "NCCL_P2P_DISABLE=1" in config["Env"] and "VLLM_CACHE_ROOT=/vllm-cache" in config["Env"]
    assert config["Labels"]["vllm-eval.partition"] == "qwen3-30b-a3b-fp8-2x24gb"
    assert config["Labels"]["vllm-eval.config-hash"] == "0123456789abcdef"
    assert config["Entrypoint"] == ["vllm"] and config["Cmd"][:2] == ["serve", f"/model-repo/snapshots/{'a' * 40}"]
    assert "--kv-cache-dtype" in config["Cmd"] and "fp8" in config["Cmd"] and "--dtype" in config["Cmd"]
    assert config["Cmd"][config["Cmd"].index("--dtype") + 1] == "auto"


def test_the_glm5_container_asks_for_four_gpus_with_a_private_ipc_namespace_and_a_sized_shm(
    docker_client, base_image, cleanup
):
    spec = _recipe_spec("glm5-int4-4gpu", base_image)
    container = docker_client.containers.create(**sdk_create_kwargs(spec, {}))
    cleanup.append(spec.name)
    host = docker_client.api.inspect_container(container.id)["HostConfig"]
    assert host["DeviceRequests"][0]["DeviceIDs"] == ["0", "1", "2", "3"]
    assert host["IpcMode"] in ("private", "") and host["ShmSize"] == 16 * 2**30
    assert container_gpus(docker_client.api.inspect_container(container.id)) == {0, 1, 2, 3}


def test_all_gpus_is_a_count_of_minus_one(docker_client, base_image, cleanup):
    spec = _recipe_spec("glm5-int4-4gpu", base_image, gpus="all")
    container = docker_client.containers.create(**sdk_create_kwargs(spec, {}))
    cleanup.append(spec.name)
    [request] = docker_client.api.inspect_container(container.id)["HostConfig"]["DeviceRequests"]
    assert request["Count"] == -1 and container_gpus(docker_client.api.inspect_container(container.id)) == "all"


def test_a_deployment_is_refused_while_another_service_holds_its_gpus(docker_client, base_image, cleanup):
    # A running container that claims GPU 1 (by label: this host cannot run a real GPU request).
    holder = docker_client.containers.run(
        base_image,
        ["sleep", "300"],
        detach=True,
        init=True,
        name=f"vllm-eval-test-holder-{uuid.uuid4().hex[:8]}",
        labels={"vllm-eval.gpus": "1", "vllm-eval.partition": "someone-else"},
    )
    cleanup.append(holder.name)
    spec = _recipe_spec("qwen3-30b-a3b-fp8-2x24gb", base_image)
    with pytest.raises(GpusTaken, match=rf"held by {holder.name} \(deployment someone-else; GPUs \[1\]\)"):
        start_container(docker_client, spec, "qwen3-30b-a3b-fp8-2x24gb", "http://127.0.0.1:1", 5)
    assert not docker_client.containers.list(all=True, filters={"name": spec.name})


def test_a_taken_host_port_is_diagnosed_from_state_error_and_nothing_is_left(docker_client, base_image, cleanup):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        spec = ContainerSpec(
            name=f"vllm-eval-test-port-{uuid.uuid4().hex[:8]}",
            image=base_image,
            entrypoint=["sleep"],
            command=["300"],
            labels={"vllm-eval.config-hash": "x"},
            environment={},
            port=port,
        )
        cleanup.append(spec.name)
        with pytest.raises(ContainerStartError) as failure:
            start_container(docker_client, spec, "port-check", f"http://127.0.0.1:{port}", 10)
    message = str(failure.value)
    assert "could not be started" in message and "host port is taken" in message
    assert "another runtime.port" in message
    assert not docker_client.containers.list(all=True, filters={"name": spec.name})


def test_a_container_killed_for_memory_is_recognised_from_state_oomkilled(docker_client, base_image, cleanup):
    python = sys.executable
    mounts = sorted({sys.base_prefix, sys.prefix})
    name = f"vllm-eval-test-oom-{uuid.uuid4().hex[:8]}"
    cleanup.append(name)
    container = docker_client.containers.run(
        base_image,
        [python, "-c", "x = bytearray(512 * 2**20); print('survived')"],
        name=name,
        detach=True,
        mem_limit="64m",
        memswap_limit="64m",
        volumes=[f"{m}:{m}:ro" for m in mounts],
    )
    container.wait(timeout=60)
    container.reload()
    state = container.attrs["State"]
    require(
        bool(state.get("OOMKilled")),
        f"this engine's cgroup does not enforce memory limits (the container "
        f"exited {state.get('ExitCode')}): run dockerd where the memory controller is delegated to it",
    )
    cause, hint = diagnose_container_state(state)
    assert "out of memory" in cause and "OOMKilled" in cause
    assert "max_model_len" in hint


def test_an_engine_named_by_the_deployment_is_used_and_a_dead_one_says_where_it_is(docker_client):
    from resources.runtime.docker.engine import EngineUnavailable, connect

    client = connect("unix:///var/run/docker.sock")
    assert client.ping()
    client.close()
    with pytest.raises(EngineUnavailable, match=r"tcp://127\.0\.0\.1:1 \(from deployment\) does not answer"):
        connect("tcp://127.0.0.1:1", timeout_s=5)
