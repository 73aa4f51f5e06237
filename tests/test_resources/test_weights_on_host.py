"""Weights on the serving host, the pure parts: when a volume is used, its name, the containers that
fill and check it (the hub download among them: no hub is reachable here, so its rendered container
is what is checked), the content hash and the tar stream that carries the files there."""

from __future__ import annotations

import io
import json
import os
import shlex
import stat
import tarfile

import pytest
from pydantic import ValidationError

from resources.config.docker import DockerSettings
from resources.config.loader import config_dir, load_deployments
from resources.runtime.docker.plan import render_plan
from resources.runtime.docker.spec import render_container_spec
from resources.runtime.docker.weights_volume import (
    PLACE_DIR,
    TOKEN_FILE,
    code_archive,
    hash_container_kwargs,
    hub_download_kwargs,
    mismatch_message,
    uses_weights_volume,
    weights_volume_name,
)
from resources.weights.content_hash import RESULT_MARKER, folder_content_hash
from resources.weights.content_hash import main as hash_main
from resources.weights.host_download import read_token
from resources.weights.tar_stream import tar_stream

QWEN = "qwen3-30b-a3b-fp8-2x24gb"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
REMOTE = "tcp://gpu-node-1:2376"
TLS = {"ca_cert": "/certs/ca.pem", "client_cert": "/certs/cert.pem", "client_key": "/certs/key.pem"}


def _deployment(key: str = QWEN, revision: str = COMMIT, **docker_changes):
    deployment = load_deployments()[key]
    settings = (
        deployment.runtime.docker.model_dump()
        if deployment.runtime.docker
        else {"image": {"pull": "vllm/vllm-openai:v0.10.1.1"}}
    )
    docker = DockerSettings(**{**settings, **docker_changes})
    runtime = deployment.runtime.model_copy(update={"kind": "docker", "docker": docker})
    return deployment.model_copy(
        update={
            "spec": deployment.spec.model_copy(update={"runtime": runtime}),
            "model": deployment.model.model_copy(update={"revision": revision}),
        }
    )


def test_a_remote_engine_gets_a_volume_and_a_local_one_keeps_the_bind_mount_unless_told(monkeypatch):
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    assert not uses_weights_volume(_deployment())
    assert uses_weights_volume(_deployment(engine=REMOTE, tls=TLS))
    assert uses_weights_volume(_deployment(engine="ssh://eval@gpu-node-1"))
    assert not uses_weights_volume(_deployment(engine=REMOTE, tls=TLS, weights_path="/srv/models/qwen")), (
        "weights the user put on the host are mounted from there"
    )
    assert not uses_weights_volume(_deployment(engine=REMOTE, tls=TLS, weights_volume=False))
    assert uses_weights_volume(_deployment(weights_volume=True))
    assert uses_weights_volume(_deployment(weights_volume="qwen-fp8-weights"))
    monkeypatch.setenv("DOCKER_HOST", "ssh://gpu-node-2")
    assert uses_weights_volume(_deployment()), "DOCKER_HOST names the engine as the deployment would"


def test_the_config_refuses_a_bad_volume_name_and_two_places_for_the_weights():
    with pytest.raises(ValidationError, match="weights_volume 'my weights' is not a Docker volume name"):
        DockerSettings(image={"pull": "vllm/vllm-openai:v0.10.1.1"}, weights_volume="my weights")
    with pytest.raises(ValidationError, match="weights_path .* and weights_volume .* both say where"):
        DockerSettings(image={"pull": "vllm/vllm-openai:v0.10.1.1"}, weights_path="/srv/m", weights_volume=True)
    assert (
        DockerSettings(
            image={"pull": "vllm/vllm-openai:v0.10.1.1"}, weights_path="/srv/m", weights_volume=False
        ).weights_volume
        is False
    )


def test_the_volume_is_named_after_the_model_and_its_identity_so_two_revisions_never_share_one():
    deployment = _deployment()
    first = weights_volume_name(deployment, f"huggingface:Qwen/Qwen3-30B-A3B-Instruct-2507-FP8@{COMMIT}")
    second = weights_volume_name(deployment, f"huggingface:Qwen/Qwen3-30B-A3B-Instruct-2507-FP8@{'f' * 40}")
    assert first.startswith("vllm-eval-weights-qwen3-30b-a3b-instruct-2507-fp8-") and len(first.rsplit("-", 1)[1]) == 16
    assert first != second
    assert first == weights_volume_name(_deployment(), f"huggingface:Qwen/Qwen3-30B-A3B-Instruct-2507-FP8@{COMMIT}")
    assert weights_volume_name(_deployment(weights_volume="qwen-fp8"), "anything") == "qwen-fp8"


def test_the_hub_download_runs_on_the_host_at_the_pinned_revision_with_the_token_only_in_a_file(monkeypatch):
    secret = "hf_" + "s3cr3t" * 6
    monkeypatch.setenv("HF_TOKEN", secret)
    deployment = _deployment(engine=REMOTE, tls=TLS)
    kwargs = hub_download_kwargs(deployment, "vllm/vllm-openai:v0.10.1.1", "vol-qwen")
    assert kwargs["command"] == [
        "python3",
        "-m",
        "resources.weights.host_download",
        "Qwen/Qwen3-30B-A3B-Instruct-2507-FP8",
        COMMIT,
        PLACE_DIR,
        TOKEN_FILE,
    ]
    assert kwargs["volumes"] == {"vol-qwen": {"bind": PLACE_DIR, "mode": "rw"}}
    assert "network_mode" not in kwargs, "it downloads: the engine's default network"
    assert kwargs["environment"]["HF_HUB_OFFLINE"] == "0" and kwargs["image"] == "vllm/vllm-openai:v0.10.1.1"
    assert secret not in json.dumps(kwargs), "no token in what docker inspect would show"
    mirrored = _deployment(engine=REMOTE, tls=TLS)
    runtime = mirrored.runtime.model_copy(
        update={"env": {"HF_ENDPOINT": "https://hf-mirror.internal", "NCCL_P2P_DISABLE": "1"}}
    )
    mirrored = mirrored.model_copy(update={"spec": mirrored.spec.model_copy(update={"runtime": runtime})})
    environment = hub_download_kwargs(mirrored, "img:1", "vol-qwen")["environment"]
    assert environment["HF_ENDPOINT"] == "https://hf-mirror.internal" and "NCCL_P2P_DISABLE" not in environment
    with tarfile.open(fileobj=io.BytesIO(code_archive(secret))) as tar:
        token = tar.getmember(TOKEN_FILE.lstrip("/"))
        assert token.mode == 0o400 and tar.extractfile(token).read().decode() == secret
        assert "opt/vllm-eval-weights/resources/weights/content_hash.py" in tar.getnames()
    with tarfile.open(fileobj=io.BytesIO(code_archive(None))) as tar:
        assert TOKEN_FILE.lstrip("/") not in tar.getnames()


def test_the_downloader_reads_the_token_file_once_and_removes_it(tmp_path):
    token_file = tmp_path / "hub-token"
    token_file.write_text("hf_abc\n")
    assert read_token(str(token_file)) == "hf_abc" and not token_file.exists()
    assert read_token(str(token_file)) is None


def test_the_hash_container_has_no_network_and_reads_the_volume_read_only_unless_copying():
    deployment = _deployment(engine=REMOTE, tls=TLS, volumes=("/opt/py:/opt/py:ro",), python="/opt/py/bin/python")
    check = hash_container_kwargs(deployment, "img:1", "vol-a")
    assert check["network_mode"] == "none" and check["entrypoint"] == []
    assert check["command"] == ["/opt/py/bin/python", "-m", "resources.weights.content_hash", PLACE_DIR]
    assert check["volumes"] == {
        "vol-a": {"bind": PLACE_DIR, "mode": "ro"},
        "/opt/py": {"bind": "/opt/py", "mode": "ro"},
    }
    assert hash_container_kwargs(deployment, "img:1", "vol-a", read_only=False)["volumes"]["vol-a"]["mode"] == "rw"


def test_the_content_hash_printed_there_is_the_one_computed_here_and_skips_the_downloaders_files(tmp_path, capsys):
    (tmp_path / "sub").mkdir()
    (tmp_path / "config.json").write_text('{"a": 1}')
    (tmp_path / "sub" / "w.bin").write_bytes(os.urandom(3 * 2**20 + 7))
    hash_main([str(tmp_path)])
    printed = json.loads(capsys.readouterr().out.removeprefix(RESULT_MARKER))
    assert printed == {"content_hash": folder_content_hash(tmp_path), "files": 2, "bytes": 3 * 2**20 + 7 + 8}
    (tmp_path / ".cache" / "huggingface").mkdir(parents=True)
    (tmp_path / ".cache" / "huggingface" / "meta").write_text("etag and timestamp")
    assert folder_content_hash(tmp_path, (".cache",)) == printed["content_hash"] != folder_content_hash(tmp_path)


def test_the_tar_stream_carries_the_exact_bytes_with_links_sent_as_their_files(tmp_path):
    source, out = tmp_path / "model", tmp_path / "out"
    (source / "blobs").mkdir(parents=True)
    (source / "blobs" / "abc").write_bytes(os.urandom(2**20 + 513))
    (source / "model.safetensors").symlink_to(source / "blobs" / "abc")
    (source / "config.json").write_text("{}")
    chunks = list(tar_stream(source, chunk=4096))
    assert max(len(c) for c in chunks) <= 4096, "one block at a time, never the whole file"
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as tar:
        assert all(m.isfile() or m.isdir() for m in tar.getmembers())
        tar.extractall(out, filter="data")
    assert not (out / "model.safetensors").is_symlink() and stat.S_ISREG((out / "model.safetensors").stat().st_mode)
    assert folder_content_hash(out) == folder_content_hash(source)


def test_a_mismatch_names_the_host_the_volume_and_the_fix():
    message = mismatch_message(
        "gpu-node-1",
        REMOTE,
        "vol-a",
        "tiny-llama",
        "generated:tiny-llama@sha256:aa",
        "aa",
        {"files": 6, "bytes": 100, "content_hash": "bb"},
    )
    assert "volume vol-a on host gpu-node-1" in message and "content sha256:bb" in message
    assert f"docker -H {REMOTE} volume rm vol-a" in message and "run model_weights again" in message


def test_the_service_mounts_the_volume_read_only_at_the_model_path():
    spec = render_container_spec(_deployment(engine=REMOTE, tls=TLS), "img:1", "/unused/here", "h", "vol-a")
    assert spec.volumes[0] == "vol-a:/model:ro" and spec.model_path == "/model" and spec.serve_args[0] == "/model"


def test_the_plan_of_a_remote_hub_deployment_shows_the_download_there_and_the_volume_mount(monkeypatch):
    secret = "hf_" + "pl4n" * 8
    monkeypatch.setenv("HF_TOKEN", secret)
    deployment = _deployment(engine=REMOTE, tls=TLS)
    plan = render_plan(deployment, config_dir())
    print(plan)
    volume = weights_volume_name(deployment, f"huggingface:Qwen/Qwen3-30B-A3B-Instruct-2507-FP8@{COMMIT}")
    lines = [shlex.split(line) for line in plan.splitlines() if line.startswith("docker ")]
    assert ["docker", "-H", REMOTE, "--tlsverify"] == lines[1][:4]
    [create] = [argv for argv in lines if "create" in argv and "resources.weights.host_download" in argv]
    assert f"{volume}:{PLACE_DIR}:rw" in create and COMMIT in create
    [run] = [argv for argv in lines if "run" in argv and "-d" in argv]
    assert f"{volume}:/model:ro" in run
    assert secret not in plan and "<a file holding $HF_TOKEN>" in plan
