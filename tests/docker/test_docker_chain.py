"""End to end on a real Docker Engine: the chain builds the image, starts vLLM's CPU build in a
container, smoke-tests and benchmarks it from the same image, reuses it on a replay, and
diagnoses a container that fails the way vLLM fails, leaving nothing behind."""

from __future__ import annotations

import os
import time
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterInstance, MaterializeResult, asset, materialize

pytestmark = [pytest.mark.docker, pytest.mark.vllm]

SUFFIX = os.environ["EVAL_TEST_DOCKER_SUFFIX"]  # set by tests/conftest.py: this session's own partitions
PARTITION = f"tiny-cpu-docker-{SUFFIX}"
BROKEN = f"tiny-cpu-docker-broken-{SUFFIX}"
EXTERNAL = f"tiny-external-{SUFFIX}"


@pytest.fixture(scope="module")
def instance(eval_home, docker_client, base_image):
    from pipelines.instance import ensure_dagster_home
    from resources.runtime.docker.container import remove_container

    ensure_dagster_home()
    for partition in (PARTITION, BROKEN):
        remove_container(docker_client, partition)  # a first run starts from nothing
    yield DagsterInstance.get()
    for partition in (PARTITION, BROKEN):
        remove_container(docker_client, partition)


def _run(instance, partition):
    from pipelines.definitions import defs

    return defs.resolve_job_def("deploy_and_evaluate").execute_in_process(
        partition_key=partition, instance=instance, raise_on_error=False
    )


def _metadata(result, asset: str) -> dict:
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == asset]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def _port() -> int:
    from resources.config.loader import load_deployments

    return load_deployments()[PARTITION].runtime.port


def _containers(client, partition):
    return client.containers.list(all=True, filters={"label": f"vllm-eval.partition={partition}"})


@pytest.fixture(scope="module")
def first_run(instance):
    started = time.monotonic()
    result = _run(instance, PARTITION)
    assert result.success, "the docker chain failed; see the Dagster log above"
    result.wall_s = time.monotonic() - started
    return result


def test_the_chain_builds_the_image_and_serves_benchmarks_and_records_a_docker_deployment(
    first_run, eval_home, docker_client, capsys
):
    image = _metadata(first_run, "vllm_image")
    assert image["action"] in ("built", "unchanged") and image["image_ref"].startswith("vllm-eval-test/tiny-cpu:ctx-")
    assert image["vllm_version"].startswith("0.") and image["image_digest"].startswith("sha256:")
    service = _metadata(first_run, "vllm_service")
    assert service["reused"] is False and service["startup_s"] > 0
    assert "weights_loading" in service["phases_reached"] and "ready" in service["phases_reached"]
    port = _port()
    assert "--init" in service["serve_command"] and f"-p 127.0.0.1:{port}:{port}" in service["serve_command"]
    [container] = _containers(docker_client, PARTITION)
    assert container.status == "running" and container.labels["vllm-eval.config-hash"] == service["config_hash"]
    smoke = _metadata(first_run, "smoke_test")
    assert smoke["passed"] is True and "tiny" in smoke["models_listed"]
    with duckdb.connect(str(eval_home / "results.duckdb"), read_only=True) as db:
        [(completed, failed, ttft, image_ref, server_cores, other_cores)] = db.execute(
            "SELECT b.completed, b.failed, b.mean_ttft_ms, r.image_ref, b.server_cpu_cores, b.other_cpu_cores "
            "FROM benchmark_results b JOIN runs r USING (run_id, partition) WHERE run_id = ?",
            [first_run.run_id],
        ).fetchall()
    assert completed == 32 and failed == 0 and ttft > 0 and image_ref == image["image_ref"]
    # The container's control group (server and the exec'd load generator) is the measurement;
    # what the host did beyond it is the contention figure, judged as for a local process.
    assert server_cores > 0.2 and other_cores is not None
    with capsys.disabled():
        print(
            f"\n[figures] docker chain, first run: {first_run.wall_s:.1f} s wall; image {image['action']} in "
            f"{image['seconds']} s; container start to healthy {service['startup_s']} s; "
            f"phases {service['phase_durations_s']}"
        )


def test_a_replay_reuses_the_healthy_container_and_the_unchanged_image(first_run, instance, docker_client):
    before = _containers(docker_client, PARTITION)[0].id
    replay = _run(instance, PARTITION)
    assert replay.success
    assert _metadata(replay, "vllm_image")["action"] == "unchanged"
    service = _metadata(replay, "vllm_service")
    assert service["reused"] is True and service["config_hash"] == _metadata(first_run, "vllm_service")["config_hash"]
    assert [c.id for c in _containers(docker_client, PARTITION)] == [before]


def test_an_external_endpoint_is_checked_and_benchmarked_without_being_started(first_run, instance, docker_client):
    before = {c.id for c in docker_client.containers.list(all=True)}
    result = _run(instance, EXTERNAL)
    assert result.success
    image = _metadata(result, "vllm_image")
    assert image["image_ref"] == f"external:http://127.0.0.1:{_port()}" and image["vllm_version"].startswith("0.")
    assert _metadata(result, "benchmark_results")["completed"] == 32
    assert {c.id for c in docker_client.containers.list(all=True)} == before


def test_exec_and_client_container_benchmarks_measure_the_same_server(first_run, docker_client, tmp_path, capsys):
    from pipelines.definitions import defs
    from resources.benchmark.command import expand_scenario, render_bench_args
    from resources.config.loader import load_deployments
    from resources.runtime import runtime_for

    deployment = load_deployments()[PARTITION]
    service = defs.load_asset_value("vllm_service", partition_key=PARTITION, instance=DagsterInstance.get())
    [point] = expand_scenario(deployment.spec.benchmarks[0])
    timings, results, logs = {}, {}, {}

    def measure(context, mode: str) -> None:
        docker = deployment.runtime.docker.model_copy(update={"bench": mode})
        variant = deployment.model_copy(
            update={
                "spec": deployment.spec.model_copy(
                    update={"runtime": deployment.runtime.model_copy(update={"docker": docker})}
                )
            }
        )
        args = render_bench_args(
            point, service.base_url, service.served_model_name, "/unused", str(tmp_path), f"{mode}.json", 1234
        )
        logs[mode] = []
        started = time.monotonic()
        results[mode] = runtime_for(variant).run_benchmark(
            service, args, tmp_path / f"{mode}.json", logs[mode].append, context=context
        )
        timings[mode] = time.monotonic() - started

    # Both inside a real Dagster step: PipesDockerClient needs a step's context.
    @asset
    def bench_by_exec(context):
        measure(context, "exec")
        return MaterializeResult()

    @asset
    def bench_by_client_container(context):
        measure(context, "client")
        return MaterializeResult()

    assert materialize([bench_by_exec, bench_by_client_container], instance=DagsterInstance.ephemeral()).success
    for mode in ("exec", "client"):
        assert results[mode]["completed"] == 32, mode
        assert any("Serving Benchmark Result" in line for line in logs[mode]), f"{mode}: output streamed to the log"
        assert (tmp_path / f"{mode}.json").exists()
    assert not [c for c in docker_client.containers.list(all=True) if "-bench-" in c.name], "client containers removed"
    with capsys.disabled():
        print(
            f"\n[figures] bench 32 x 128/64 on CPU: exec {timings['exec']:.1f} s wall "
            f"(benchmark duration {results['exec']['duration']:.1f} s), client container "
            f"{timings['client']:.1f} s wall (duration {results['client']['duration']:.1f} s)"
        )


def test_a_container_that_fails_to_start_is_diagnosed_and_removed(instance, docker_client):
    result = _run(instance, BROKEN)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.event_specific_data.error.to_string()
    assert f"vLLM container vllm-eval-{BROKEN} for '{BROKEN}' exited" in message and "has been removed" in message
    assert "Cause: max_model_len is longer than the model's context" in message
    assert "Fix: lower max_model_len" in message and "Last log lines (docker logs" in message
    assert not _containers(docker_client, BROKEN), "nothing is left behind"


def _processes_in(container_id: str) -> set[int]:
    """This machine's processes whose control group is the container's, read from /proc."""
    pids = set()
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and container_id in (entry / "cgroup").read_text():
                pids.add(int(entry.name))
        except OSError:  # it ended while we looked
            pass
    return pids


def test_the_idle_gpu_gate_knows_the_kept_containers_processes_as_its_own(first_run, docker_client):
    from dataclasses import replace

    from resources.config.loader import load_deployments
    from resources.hardware.gates import evaluate_gates
    from resources.hardware.requirements import gate_requirements
    from resources.runtime import runtime_for
    from tests.test_resources.test_hardware_report import load_recording, replay, with_foreign_process

    [container] = _containers(docker_client, PARTITION)
    pids = runtime_for(load_deployments()[PARTITION]).own_pids()
    # Exactly the container's processes, as this machine numbers them (NVML reports host pids).
    assert set(pids) == _processes_in(container.id) and container.attrs["State"]["Pid"] in pids
    # The server's own process (`python -m resources.serving.vllm_cli serve`), not docker-init above it.
    [server] = [
        pid
        for pid in pids
        if Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[1:3] == [b"-m", b"resources.serving.vllm_cli"]
    ]

    # A recorded two-GPU host on which that server holds 1,000 MiB of GPU 0: ours, so the GPU
    # counts as idle; anyone else's there is a busy GPU.
    report = replay(with_foreign_process(load_recording("h200_x2"), gpu=0, pid=server, used_mib=1000))
    requirements = gate_requirements(load_deployments()["tiny-gpu-tp2"], False, environ={})
    ours = {g.name: g for g in evaluate_gates(report, replace(requirements, ignore_pids=pids))}
    theirs = {g.name: g for g in evaluate_gates(report, replace(requirements, ignore_pids=[]))}
    assert ours["gpu_idle"].passed, ours["gpu_idle"].description
    assert not theirs["gpu_idle"].passed and f"pid {server}" in theirs["gpu_idle"].description


def test_teardown_stop_removes_the_container(first_run, docker_client):
    from resources.config.loader import load_deployments
    from resources.runtime import runtime_for

    assert runtime_for(load_deployments()[PARTITION]).stop() is True
    assert not _containers(docker_client, PARTITION)
