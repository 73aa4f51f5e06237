"""Weights on the host that serves: a remote engine's host gets them in a named volume, checked there.

The remote host is the second engine of tests/docker/start_gpu_host_engine.sh (its own network
and mount namespaces, reached over tcp:// with TLS). model_weights streams the generated tiny
model into a volume on that engine through a container of the deployment's image, hashes it there,
and finds it again on the next run without copying; a volume whose file was changed there is
refused by name; and vLLM's CPU build serves the model from that volume on that host.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import urllib.request

import pytest
import yaml

from resources.config.docker import DockerSettings
from resources.config.loader import load_deployments
from resources.runtime import runtime_for
from resources.runtime.compile_cache import volume_name as cache_volume_name
from resources.runtime.docker.container import remove_container
from resources.runtime.values import ImageInfo
from resources.weights.content_hash import folder_content_hash
from resources.weights.fetch import WeightsError
from tests.docker.conftest import BASE_IMAGE
from tests.docker.gpu_host import ENGINE, TLS

pytestmark = pytest.mark.docker

SUFFIX = os.environ["EVAL_TEST_DOCKER_SUFFIX"]  # this session's own model names, so its own volumes
PORT = 8175 + int(os.environ["EVAL_TEST_PORT_OFFSET"])  # clear of the fleet test's 8170-8173
IMAGE = ImageInfo(runtime="docker", image_ref=BASE_IMAGE, image_digest=BASE_IMAGE, vllm_version="test")


def _on_remote_host(model_name: str, **docker_changes):
    """The docker test deployment (vLLM's CPU build and this interpreter bind-mounted into the base
    image) on the remote engine, published on that host's address, for a model of its own name."""
    docker_deployment = load_deployments()[f"tiny-cpu-docker-{SUFFIX}"]
    settings = docker_deployment.runtime.docker.model_dump()
    settings.update(engine=ENGINE, tls=TLS.model_dump(), image={"pull": BASE_IMAGE}, **docker_changes)
    runtime = docker_deployment.runtime.model_copy(
        update={"docker": DockerSettings(**settings), "host": ENGINE.split("//")[1].split(":")[0], "port": PORT}
    )
    return docker_deployment.model_copy(
        update={
            "key": f"weights-remote-{model_name}",
            "model_name": model_name,
            "spec": docker_deployment.spec.model_copy(update={"runtime": runtime}),
        }
    )


@pytest.fixture
def volumes(gpu_host_engine, docker_client):
    """Volume names the test made; removed from the remote engine afterwards."""
    made: list[str] = []
    yield made
    for name in made:
        try:
            gpu_host_engine.volumes.get(name).remove(force=True)
        except Exception:
            pass


def _in_volume(client, volume: str, command: str) -> str:
    """Runs a shell command in a throwaway container on the remote engine with the volume at /w."""
    return client.containers.run(
        BASE_IMAGE, ["sh", "-c", command], volumes={volume: {"bind": "/w"}}, network_mode="none", remove=True
    ).decode()


def test_the_tiny_model_lands_in_a_volume_on_the_remote_host_verified_there_and_is_reused_next_time(
    gpu_host_engine, docker_client, volumes
):
    runtime = runtime_for(_on_remote_host(f"tiny-llama-{SUFFIX}"))
    said: list[str] = []
    started = time.monotonic()
    first = runtime.place_weights(IMAGE, on_line=said.append)
    first_s = time.monotonic() - started
    volumes.append(first.on_host.volume)
    print("\n--- first placement\n" + "\n".join(said))

    placed = first.on_host
    here = folder_content_hash(first.path)
    assert placed.action == "copied" and placed.host == "10.231.0.2" and placed.engine == ENGINE
    assert placed.volume.startswith(f"vllm-eval-weights-tiny-llama-{SUFFIX}-")
    assert first.revision == f"sha256:{here}" and placed.content_hash == here, "hashed there, equal to here"
    assert placed.size_bytes == first.size_bytes and placed.files == len(
        [p for p in first.path.rglob("*") if p.is_file()]
    )
    assert any(f"copy to volume {placed.volume} on 10.231.0.2:" in line and "MiB/s" in line for line in said)
    assert any(line.endswith("verified there") for line in said)
    # The files are in that volume on that host, and only there.
    listing = _in_volume(gpu_host_engine, placed.volume, "ls /w")
    assert "config.json" in listing and "model.safetensors" in listing
    assert not docker_client.volumes.list(filters={"name": placed.volume}), "this machine's engine has no such volume"
    assert gpu_host_engine.containers.list(all=True, filters={"label": "vllm-eval.weights-copy"}) == []

    said.clear()
    started = time.monotonic()
    second = runtime.place_weights(IMAGE, on_line=said.append)
    second_s = time.monotonic() - started
    print(f"--- second placement ({second_s:.1f} s, first {first_s:.1f} s)\n" + "\n".join(said))
    assert second.on_host.action == "reused" and second.on_host.volume == placed.volume
    assert second.on_host.content_hash == here and second.identity == first.identity
    assert any("reused, nothing copied" in line for line in said)
    assert not any("copy to volume" in line for line in said)


def test_a_volume_whose_file_was_changed_on_the_host_is_refused_with_the_host_the_volume_and_the_fix(
    gpu_host_engine, volumes
):
    volume = f"vllm-eval-weights-changed-{SUFFIX}"
    volumes.append(volume)
    runtime = runtime_for(_on_remote_host(f"tiny-llama-{SUFFIX}", weights_volume=volume))
    first = runtime.place_weights(IMAGE)
    assert first.on_host.volume == volume and first.on_host.action == "copied"
    # Someone on the host edits the placed config (through a container, as only the host sees the volume).
    _in_volume(gpu_host_engine, volume, "echo ' ' >> /w/config.json")

    with pytest.raises(WeightsError) as refused:
        runtime.place_weights(IMAGE)
    message = str(refused.value)
    print("\n--- refused\n" + message)
    assert f"the weights volume {volume} on host 10.231.0.2 (engine {ENGINE})" in message
    assert f"but generated:tiny-llama-{SUFFIX}@{first.revision} has content {first.revision}" in message
    assert f"docker -H {ENGINE} volume rm {volume}" in message


@pytest.mark.vllm
def test_vllm_serves_the_model_from_the_volume_on_the_remote_host(gpu_host_engine, volumes):
    deployment = _on_remote_host(f"tiny-llama-{SUFFIX}")
    runtime = runtime_for(deployment)
    weights = runtime.place_weights(IMAGE)
    volumes.append(weights.on_host.volume)
    try:
        service = runtime.ensure_service(
            IMAGE, str(weights.path), "weights-on-host", weights_volume=weights.on_host.volume
        )
        assert service.container.engine == ENGINE and service.base_url == f"http://10.231.0.2:{PORT}"
        assert service.container.volumes[0] == f"{weights.on_host.volume}:/model:ro"
        mounts = gpu_host_engine.api.inspect_container(service.container.name)["Mounts"]
        [model] = [m for m in mounts if m["Destination"] == "/model"]
        assert model["Type"] == "volume" and model["Name"] == weights.on_host.volume and model["RW"] is False
        request = urllib.request.Request(
            f"{service.base_url}/v1/chat/completions",
            method="POST",
            headers={"Content-Type": "application/json"},
            data=json.dumps(
                {
                    "model": deployment.served_model_name,
                    "max_tokens": 8,
                    "messages": [{"role": "user", "content": "hello"}],
                }
            ).encode(),
        )
        with urllib.request.urlopen(request, timeout=60) as reply:
            answer = json.loads(reply.read())
        print(f"\n--- served from {weights.on_host.volume} on {weights.on_host.host}: {answer['usage']}")
        assert answer["usage"]["completion_tokens"] > 0 and answer["choices"][0]["message"]["content"]
    finally:
        remove_container(gpu_host_engine, deployment.key)
        volumes.append(cache_volume_name(deployment.key, "weights-on-host"))


def test_the_hardware_report_measures_the_disk_the_volume_fills_on_the_remote_host(gpu_host_engine):
    root = gpu_host_engine.info()["DockerRootDir"]
    report = runtime_for(_on_remote_host(f"tiny-llama-{SUFFIX}")).capture_hardware().report
    assert report.host.weights_dir == f"{root}/volumes" and report.host.weights_dir_total_bytes > 0
    assert report.host.engine == ENGINE


def test_model_weights_says_which_host_volume_hash_and_bytes(gpu_host_engine, test_configs, tmp_path, volumes):
    """The asset itself, on a config folder whose docker deployment names the remote engine."""
    from dagster import build_asset_context

    from assets.deployment.model_weights import model_weights
    from resources.dagster_resources import DeploymentCatalog

    configs = tmp_path / "configs"
    shutil.copytree(test_configs, configs)
    model = f"tiny-llama-asset-{SUFFIX}"  # a volume of its own: other sessions place "tiny-llama"
    shutil.copy(configs / "models" / "tiny-llama.yaml", configs / "models" / f"{model}.yaml")
    partition = f"tiny-cpu-docker-{SUFFIX}"
    deployment_file = configs / "deployments" / f"{partition}.yaml"
    data = yaml.safe_load(deployment_file.read_text())
    data["model"] = model
    data["runtime"]["docker"].update(engine=ENGINE, tls=TLS.model_dump(), image={"pull": BASE_IMAGE})
    deployment_file.write_text(yaml.safe_dump(data, sort_keys=False))

    with build_asset_context(partition_key=partition) as context:
        result = model_weights(context, deployments=DeploymentCatalog(config_root=str(configs)), vllm_image=IMAGE)
    metadata = {key: getattr(value, "value", value) for key, value in result.metadata.items()}
    volumes.append(metadata["volume"])
    print("\n--- model_weights metadata\n" + json.dumps(metadata, indent=1, default=str))
    weights = result.value
    assert metadata["engine"] == ENGINE and metadata["host"] == "10.231.0.2"
    assert metadata["volume"].startswith(f"vllm-eval-weights-{model}-") and metadata["action"] == "copied"
    assert metadata["path"] == f"volume {metadata['volume']} on 10.231.0.2"
    assert metadata["content_hash_on_host"] == weights.revision == f"sha256:{folder_content_hash(weights.path)}"
    assert metadata["bytes_on_host"] == weights.size_bytes and metadata["verified_on_host"] is True


def test_a_hub_download_on_a_host_without_the_hub_fails_naming_the_model_and_never_shows_the_token(
    gpu_host_engine, volumes, monkeypatch
):
    """The real download container (huggingface_hub's snapshot_download) on the remote host, which,
    like every machine here, cannot reach the hub: the failure is the hub's, the token is nowhere."""
    secret = "hf_" + "n0tAreal" * 4
    monkeypatch.setenv("EVAL_TEST_HUB_TOKEN", secret)
    deployment = _on_remote_host(f"hub-{SUFFIX}")
    # A closed port as the hub's address: refused at once (an unresolvable name takes half a minute).
    runtime = deployment.runtime.model_copy(
        update={"env": {**deployment.runtime.env, "HF_ENDPOINT": "http://127.0.0.1:9"}}
    )
    deployment = deployment.model_copy(
        update={
            "spec": deployment.spec.model_copy(update={"runtime": runtime}),
            "model": deployment.model.model_copy(
                update={
                    "source": "huggingface",
                    "repo": "Qwen/Qwen3-0.6B",
                    "revision": "c1899de289a04d12100db370d81485cdf75e47ca",
                    "token_env": "EVAL_TEST_HUB_TOKEN",
                }
            ),
        }
    )
    said: list[str] = []
    with pytest.raises(WeightsError) as failed:
        runtime_for(deployment).place_weights(IMAGE, on_line=said.append)
    volumes.extend(
        v.name
        for v in gpu_host_engine.volumes.list(filters={"label": "vllm-eval.weights-model"})
        if v.attrs["Labels"].get("vllm-eval.weights-model") == f"hub-{SUFFIX}"
    )
    message = str(failed.value)
    print("\n" + "\n".join(said) + "\n--- failed\n" + message)
    assert message.startswith(
        f"model 'hub-{SUFFIX}': downloading Qwen/Qwen3-0.6B@c1899de289a04d12100db370d81485cdf75e47ca "
        "on 10.231.0.2 exited with 1: huggingface_hub.errors.LocalEntryNotFoundError"
    )
    assert "reaches the hub (or a mirror named by HF_ENDPOINT in runtime.env)" in message
    assert secret not in message and not any(secret in line for line in said)
    assert any("token: from $EVAL_TEST_HUB_TOKEN" in line for line in said)
    assert gpu_host_engine.containers.list(all=True, filters={"label": "vllm-eval.weights-download"}) == []
    assert len(volumes) == 1 and volumes[0].startswith(f"vllm-eval-weights-hub-{SUFFIX}-")
