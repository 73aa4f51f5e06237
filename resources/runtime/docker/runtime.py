"""The ``docker`` runtime: vLLM in a container on a Docker Engine, local or remote.

Gets the image (a pinned pull or a build from ``configs/``), starts or reuses the service's
container, runs ``vllm bench serve`` from the same image (``docker exec`` or a client container),
and stops it. State lives in the engine (container names and labels), never in Dagster.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

from resources.config.docker import BuildImage
from resources.runtime.base import Log, Runtime, _quiet
from resources.runtime.compile_cache import cache_slot, volume_name, volume_prefix
from resources.runtime.docker.container import (
    find_reusable,
    left_behind,
    remove_container,
    service_base_url,
    start_container,
)
from resources.runtime.docker.engine import connect, engine_address, engine_must_answer
from resources.runtime.docker.image import ensure_built, ensure_pulled, probe_vllm_version, vllm_version_from
from resources.runtime.docker.spec import container_name, docker_run_argv, docker_settings, render_container_spec
from resources.runtime.values import ContainerInfo, ImageInfo, ServiceInfo
from resources.serving.startup_diagnosis import diagnose


def prepare_cache_volumes(client, partition: str, config_hash: str, cold: bool, on_progress: Log = _quiet) -> None:
    """Removes the partition's compile-cache volumes of other configurations (never loadable again)
    and, for a cold start, this configuration's own: Docker creates it empty at the next start."""
    import docker.errors

    keep = volume_name(partition, config_hash)
    for volume in client.volumes.list(filters={"name": volume_prefix(partition)}):
        if volume.name.startswith(volume_prefix(partition)) and (cold or volume.name != keep):
            try:
                volume.remove()
                on_progress(f"removed compile-cache volume {volume.name}")
            except docker.errors.APIError as exc:  # still used by a container someone else started
                on_progress(f"kept compile-cache volume {volume.name}: {exc.explanation or exc}")


class DockerRuntime(Runtime):
    kind = "docker"

    @property
    def settings(self):
        return docker_settings(self.deployment)

    def connect(self, timeout_s: float = 600):
        """A client of the deployment's engine, over TLS when the config gives certificates."""
        settings = self.settings
        return connect(settings.engine, timeout_s=timeout_s, tls=settings.tls)

    @engine_must_answer("getting the image")
    def prepare_image(self, on_line: Log = _quiet) -> ImageInfo:
        settings = self.settings
        client = self.connect()
        try:
            if isinstance(settings.image, BuildImage):
                info = ensure_built(client, settings.image.build, self.config_root, on_line)
            else:
                info = ensure_pulled(client, settings.image.pull, on_line)
            version = vllm_version_from(info.ref, info.labels) or probe_vllm_version(
                client, info.ref, settings.python, list(settings.volumes), dict(self.deployment.runtime.env)
            )
        finally:
            client.close()
        return ImageInfo(
            runtime="docker",
            image_ref=info.ref,
            image_digest=info.digest,
            vllm_version=version,
            details={
                "engine": engine_address(settings.engine).url,
                "image_id": info.image_id,
                "action": info.action,
                "seconds": round(info.seconds, 2),
                "context_hash": info.context_hash,
                "labels": info.labels,
            },
        )

    @engine_must_answer("placing the weights")
    def place_weights(self, image: ImageInfo, on_line: Log = _quiet):
        """In a named volume on the engine's host, verified there by content hash, when the engine is
        remote or ``weights_volume`` asks for it (``weights_volume.py``); else on this machine."""
        from resources.runtime.docker.weights import place_on_engine
        from resources.runtime.docker.weights_volume import uses_weights_volume

        if not uses_weights_volume(self.deployment):
            return super().place_weights(image, on_line)
        client = self.connect()
        try:
            return place_on_engine(
                client,
                self.deployment,
                image.image_ref,
                engine_address(self.settings.engine).url,
                self.gpu_host(),
                on_line,
            )
        finally:
            client.close()

    @engine_must_answer("starting or checking the vLLM container")
    def ensure_service(
        self,
        image: ImageInfo,
        weights_path: str,
        config_hash: str,
        on_progress: Log = _quiet,
        cold_start: bool = False,
        weights_volume: str | None = None,
    ) -> ServiceInfo:
        settings, deployment = self.settings, self.deployment
        runtime = deployment.runtime
        spec = render_container_spec(deployment, image.image_ref, weights_path, config_hash, weights_volume)
        engine = engine_address(settings.engine).url
        base_url = service_base_url(engine, runtime.host, runtime.port)
        client = self.connect()
        try:
            container = None if cold_start else find_reusable(client, deployment.service_name, config_hash, base_url)
            if container is not None:
                on_progress(f"reusing healthy container {container.name} at {base_url} (config {config_hash})")
                reading, startup_s = diagnose(container.logs().decode(errors="replace")), None
            else:
                stale = left_behind(client, deployment.service_name)
                if stale:  # stopped by its engine's restart, another config, or not answering /health
                    on_progress(f"found stale container {stale}, not reusable: replacing it")
                remove_container(client, deployment.service_name)  # a volume in use cannot be removed
                prepare_cache_volumes(client, *cache_slot(deployment, config_hash), cold_start, on_progress)
                on_progress(f"starting container {spec.name}: vllm serve {' '.join(spec.serve_args)}")
                reading, startup_s = start_container(
                    client, spec, deployment.service_name, base_url, runtime.startup_timeout_s, on_progress
                )
                on_progress(f"container healthy at {base_url} after {startup_s:.1f} s")
        finally:
            client.close()
        return ServiceInfo(
            base_url=base_url,
            served_model_name=deployment.served_model_name,
            config_hash=config_hash,
            serve_args=tuple(spec.serve_args),
            command=tuple(docker_run_argv(spec)),
            startup_s=startup_s,
            reused=startup_s is None,
            log_path=f"docker logs {spec.name}",
            phases=tuple(reading.reached),
            phase_durations=reading.phase_durations(),
            compile_cache=reading.compile_cache,
            cold_start=cold_start and startup_s is not None,
            kv_cache_tokens=reading.kv_cache_tokens,
            max_concurrency=reading.max_concurrency,
            container=ContainerInfo(
                engine=engine,
                name=spec.name,
                port=runtime.port,
                image=image.image_ref,
                model_path=spec.model_path,
                vllm_command=tuple(settings.vllm_command),
                volumes=spec.volumes,
                environment=spec.environment,  # from the config, so no secrets: those are in spec.secret_env
            ),
        )

    @engine_must_answer("running the benchmark")
    def run_benchmark(
        self,
        service: ServiceInfo,
        bench_args: list[str],
        result_path: Path,
        on_line: Log = _quiet,
        env: dict[str, str] | None = None,
        context=None,
    ) -> dict:
        from resources.runtime.docker.bench import bench_client_container, bench_exec

        mode = self.settings.bench
        client = self.connect()
        try:
            if mode == "client":
                if context is None:
                    raise ValueError(
                        "bench: client runs through dagster-docker's PipesDockerClient and needs the step's context"
                    )
                result, command = bench_client_container(
                    context, client, service.container, bench_args, result_path, env, on_line
                )
            else:
                result, command = bench_exec(client, service.container, bench_args, result_path, env, on_line)
        finally:
            client.close()
        on_line(f"ran in {mode} mode: {' '.join(command)}")
        return result

    @engine_must_answer("stopping the container")
    def stop(self) -> bool:
        client = self.connect()
        try:
            return remove_container(client, self.deployment.service_name)
        finally:
            client.close()

    def server_cpu_source(self, service: ServiceInfo):
        """The container's control group, when its engine runs on this machine (its processes are
        this kernel's) and the load generator runs inside it (``bench: exec``): the group then holds
        the server and the load generator together. A client container, or a remote engine's host,
        is not visible from here: None, and contention is not judged."""
        from resources.benchmark.host_usage import cgroup_of

        if self.settings.bench != "exec" or not engine_address(self.settings.engine).is_local:
            return None
        try:
            client = self.connect(timeout_s=10)
            try:
                pid = client.containers.get(service.container.name).attrs["State"]["Pid"]
            finally:
                client.close()
        except Exception:  # a figure for the contention check, never a reason to fail the benchmark
            return None
        return cgroup_of(pid) if pid else None

    def own_pids(self) -> list[int]:
        try:
            client = self.connect(timeout_s=10)
            try:
                container = client.containers.get(container_name(self.deployment.service_name))
                if container.status != "running":
                    return []
                top = container.top()
                column = top["Titles"].index("PID")
                return [int(row[column]) for row in top["Processes"]]
            finally:
                client.close()
        except Exception:  # no engine, no container: nothing of ours holds a GPU
            return []

    @engine_must_answer("capturing the host's hardware")
    def capture_hardware(self, on_line: Log = _quiet):
        """The engine host's report, read there by a short-lived capture container
        (``resources/runtime/docker/capture.py``): its GPUs, memory, disk and name, not this machine's,
        and the model's config.json when the weights are on that host already."""
        from resources.runtime.docker.capture import (
            capture_container_kwargs,
            capture_from_recording,
            capture_image,
            engine_weights_dir,
            run_capture,
        )

        image = capture_image(self.deployment)
        client = self.connect()
        try:
            ensure_pulled(client, image, on_line)
            weights_dir = engine_weights_dir(self.deployment, client.info().get("DockerRootDir"))
            recording = run_capture(client, capture_container_kwargs(self.deployment, image, weights_dir))
        finally:
            client.close()
        return capture_from_recording(recording, engine_address(self.settings.engine).url)

    def gpu_host(self) -> str:
        engine = self.settings.engine or os.environ.get("DOCKER_HOST")
        if engine and not engine.startswith("unix://"):
            return urlparse(engine).hostname or engine
        return super().gpu_host()

    def plan(self) -> str:
        from resources.runtime.docker.plan import render_plan

        return render_plan(self.deployment, self.config_root)
