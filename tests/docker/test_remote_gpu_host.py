"""A deployment on a remote Docker Engine is judged on that engine's host.

The remote host is a second, real dockerd in its own network, UTS and mount namespaces
(tests/docker/start_gpu_host_engine.sh): address 10.231.0.2, host name eval-gpu-host, a 2 GiB
weights disk only its containers see, reached over tcp:// with TLS client certificates. It has no
GPU, so the GPU cases mount a real recording (tests/fixtures/nvml/h200_x2: two H200s) into the
capture container, which answers NVML from it; memory, disks and the host name are read live.
"""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import pytest

from resources.config.docker import DockerSettings
from resources.config.loader import load_deployments
from resources.hardware.gates import evaluate_gates
from resources.hardware.report import collect_hardware_report
from resources.hardware.requirements import gate_requirements
from resources.runtime import runtime_for
from resources.runtime.docker.capture import capture_container_kwargs, report_from_recording, run_capture
from tests.docker.conftest import BASE_IMAGE
from tests.docker.gpu_host import ENGINE, HOST_NAME, TLS, WEIGHTS_DIR, WEIGHTS_DISK_BYTES
from tests.test_resources.test_hardware_report import FIXTURES, load_recording, with_foreign_process

pytestmark = pytest.mark.docker


def _on_gpu_host(device: str = "cpu", gpus=(0,), weights_path: str = WEIGHTS_DIR, **model_changes):
    """The tiny model as a docker deployment on the GPU host engine; the interpreter that runs the
    capture is this one, bind-mounted (the base image has no Python, like the other docker tests)."""
    tiny = load_deployments()["tiny-cpu-eager"]
    mounts = sorted({sys.base_prefix, sys.prefix})
    mounts = [m for m in mounts if not any(m != o and m.startswith(o + "/") for o in mounts)]
    docker = DockerSettings(
        engine=ENGINE,
        tls=TLS,
        image={"pull": BASE_IMAGE},
        python=sys.executable,
        volumes=tuple(f"{m}:{m}:ro" for m in mounts),
        weights_path=weights_path,
        gpus=gpus,
    )
    runtime = tiny.runtime.model_copy(update={"kind": "docker", "device": device, "docker": docker})
    return tiny.model_copy(
        update={
            "spec": tiny.spec.model_copy(update={"runtime": runtime}),
            "model": tiny.model.model_copy(update=model_changes),
        }
    )


def _replayed_capture(client, deployment, recording_file: str):
    kwargs = capture_container_kwargs(deployment, BASE_IMAGE, WEIGHTS_DIR, replay_file=recording_file)
    [request] = kwargs["device_requests"]  # what a real GPU host gets: exactly the deployment's GPUs
    assert request["DeviceIDs"] == [str(g) for g in deployment.runtime.docker.gpus]
    # This engine has no NVIDIA runtime, where a GPU request fails to start: run it without one.
    return report_from_recording(run_capture(client, {**kwargs, "device_requests": []}), ENGINE)


def test_the_report_of_a_remote_engine_names_that_host_and_its_disk_not_this_machine(gpu_host_engine):
    captured = runtime_for(_on_gpu_host()).capture_hardware()
    remote = captured.report
    local = collect_hardware_report(weights_dir=WEIGHTS_DIR)
    print(
        "\n--- remote engine's report\n" + remote.to_markdown() + "\n--- this machine's report\n" + local.to_markdown()
    )

    assert remote.host.hostname == HOST_NAME and remote.host.engine == ENGINE
    assert local.host.hostname == socket.gethostname() != HOST_NAME and local.host.engine is None
    assert remote.host.weights_dir == WEIGHTS_DIR and remote.host.weights_dir_total_bytes == WEIGHTS_DISK_BYTES
    assert local.host.weights_dir_total_bytes != WEIGHTS_DISK_BYTES, "here that folder is on the root disk"
    assert remote.fingerprint != local.fingerprint
    assert captured.weights_present is False and captured.model_config is None
    assert f"| host | {HOST_NAME} (through the Docker Engine at {ENGINE}) |" in remote.to_markdown()
    assert f"| disk at {WEIGHTS_DIR} | 2.0 GiB free of 2.0 GiB |" in remote.to_markdown()
    assert not remote.nvidia_driver_present and "libnvidia-ml.so.1" in remote.no_driver_reason
    assert gpu_host_engine.containers.list(all=True, filters={"label": "vllm-eval.hardware-capture-of"}) == []


def test_a_replayed_h200_recording_in_the_remote_capture_gives_the_recorded_gpus(gpu_host_engine):
    report = _replayed_capture(
        gpu_host_engine, _on_gpu_host("gpu", (0, 1)), str(FIXTURES / "h200_x2" / "nvml_recording.json")
    )
    recorded = json.loads((FIXTURES / "h200_x2" / "report.json").read_text())
    print("\n--- remote engine's report, NVML replayed from h200_x2\n" + report.to_markdown())

    assert (
        [(g.index, g.name, g.memory_total_mib) for g in report.gpus]
        == [(g["index"], g["name"], g["memory_total_mib"]) for g in recorded["gpus"]]
        == [(0, "NVIDIA H200", 143771), (1, "NVIDIA H200", 143771)]
    )
    assert report.driver_version == recorded["driver_version"] and report.gpu_pairs[0].over_nvlink
    assert report.host.hostname == HOST_NAME and report.host.weights_dir_total_bytes == WEIGHTS_DISK_BYTES


def test_on_the_remote_host_a_busy_gpu_0_passes_a_deployment_pinned_to_gpu_1_and_refuses_gpu_0(
    gpu_host_engine, tmp_path
):
    # Derived from the real h200_x2 recording: another job holds 60,000 MiB of GPU 0 (pid 4242).
    busy = tmp_path / "h200_x2_gpu0_busy.json"
    busy.write_text(json.dumps(with_foreign_process(load_recording("h200_x2"), gpu=0, pid=4242, used_mib=60000)))
    verdicts = {}
    for gpu in (1, 0):
        deployment = _on_gpu_host("gpu", (gpu,))
        report = _replayed_capture(gpu_host_engine, deployment, str(busy))
        gates = evaluate_gates(report, gate_requirements(deployment, False, environ={}))
        verdicts[gpu] = {g.name: g for g in gates}
        print(f"\n--- pinned to GPU {gpu} on {report.host.where}")
        for g in gates:
            print(f"{g.name} [{g.severity}] {'pass' if g.passed else 'FAIL'}: {g.description}")

    assert verdicts[1]["gpu_idle"].passed and verdicts[1]["gpu_memory"].passed
    assert not verdicts[0]["gpu_idle"].passed
    assert "GPU 0 runs other compute processes: pid 4242 (60000 MiB)" in verdicts[0]["gpu_idle"].description


def _disk_gate(report, deployment, captured=None):
    requirements = gate_requirements(
        deployment,
        captured.weights_present if captured else False,
        captured.model_config if captured else None,
        environ={},
    )
    return {g.name: g for g in evaluate_gates(report, requirements)}["disk_space"]


def test_weights_too_big_for_the_remote_disk_are_refused_there_though_this_machine_has_room(gpu_host_engine):
    three_gb = _on_gpu_host(total_params_b=3.0, bytes_per_param=1.0)  # 3 GB of weights, 3.1 GiB with margin
    captured = runtime_for(three_gb).capture_hardware()
    remote = _disk_gate(captured.report, three_gb, captured)
    local = _disk_gate(collect_hardware_report(weights_dir=WEIGHTS_DIR), three_gb)
    print(
        f"\n--- disk_space for 3 GB of weights at {WEIGHTS_DIR}\nremote: {'pass' if remote.passed else 'FAIL'}: "
        f"{remote.description}\nlocal:  {'pass' if local.passed else 'FAIL'}: {local.description}"
    )
    assert not remote.passed and f"2.0 GiB free at {WEIGHTS_DIR}, the weights need 3.1 GiB" in remote.description
    assert local.passed, "this machine has room there, which is not where the weights land"


def test_weights_already_on_the_remote_host_are_found_there_with_their_context_length(gpu_host_engine):
    # A model folder that exists only on the GPU host's disk, written by a container there.
    folder = f"{WEIGHTS_DIR}/tiny-on-host"
    write = "mkdir -p /w/tiny-on-host && echo '{\"max_position_embeddings\": 4096}' > /w/tiny-on-host/config.json"
    gpu_host_engine.containers.run(
        BASE_IMAGE, ["sh", "-c", write], volumes={WEIGHTS_DIR: {"bind": "/w"}}, network_mode="none", remove=True
    )
    try:
        deployment = _on_gpu_host(weights_path=folder)
        deployment = deployment.model_copy(
            update={"params": deployment.params.model_copy(update={"max_model_len": None})}
        )
        captured = runtime_for(deployment).capture_hardware()
        assert captured.weights_present and captured.model_config == {"max_position_embeddings": 4096}
        assert gate_requirements(deployment, True, captured.model_config, environ={}).max_model_len == 4096
        assert _disk_gate(captured.report, deployment, captured).description == "weights already on disk"
        assert not (Path(folder) / "config.json").exists(), "this machine does not see that disk"
    finally:
        gpu_host_engine.containers.run(
            BASE_IMAGE,
            ["rm", "-rf", "/w/tiny-on-host"],
            volumes={WEIGHTS_DIR: {"bind": "/w"}},
            network_mode="none",
            remove=True,
        )
