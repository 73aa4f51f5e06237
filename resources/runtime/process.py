"""The ``process`` runtime: ``vllm serve`` as a local process that outlives the Dagster step.

State lives in the runtime itself, not in Dagster: each partition has a folder under
``EVAL_HOME/services/<partition>/`` holding ``state.json`` (pid, port, config hash) and the
server's log. A later step or run reads it to find the server, reuse it when it is healthy
with the same config hash, or stop it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from resources.benchmark.host_usage import proc_stat_fields
from resources.config.eval_home import PROJECT_ROOT, compile_cache_dir, project_pythonpath, services_dir
from resources.runtime.base import Log, Runtime, _quiet
from resources.runtime.compile_cache import CACHE_ENV, cache_env, cache_slot, local_cache
from resources.runtime.startup_wait import ServiceStartError, Stopped, wait_until_healthy
from resources.runtime.values import ImageInfo, ServiceInfo
from resources.serving.health import is_healthy
from resources.serving.startup_log import StartupReading, read_startup_log
from resources.serving.vllm_cli import CLI_MODULE

HEALTH_POLL_S = 0.1


@dataclass(frozen=True)
class ServiceState:
    partition: str
    pid: int
    host: str
    port: int
    config_hash: str
    started_at: float
    log_path: str

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"


def server_env(runtime) -> dict[str, str]:
    """The server's environment: the config's ``env`` plus the API key, read from the variable the
    config names. vLLM reads ``VLLM_API_KEY`` itself, so the key never appears on a command line,
    in a process listing or in the config hash."""
    env = dict(runtime.env)
    if "CUDA_VISIBLE_DEVICES" in env:
        # CUDA numbers GPUs fastest first unless told otherwise; NVML, the gates and docker's
        # --gpus number them by PCI bus: make CUDA_VISIBLE_DEVICES mean the GPUs the gates judged.
        env.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    if runtime.api_key_env:
        key = os.environ.get(runtime.api_key_env)
        if not key:
            raise ServiceStartError(
                f"runtime.api_key_env names {runtime.api_key_env}, which is not set; export it with the "
                "server's API key, or remove api_key_env to serve without a key"
            )
        env["VLLM_API_KEY"] = key
    return env


def _state_path(partition: str) -> Path:
    return services_dir() / partition / "state.json"


def read_state(partition: str) -> ServiceState | None:
    path = _state_path(partition)
    if not path.exists():
        return None
    return ServiceState(**json.loads(path.read_text()))


def _pid_alive(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)  # reaps our own exited child, so it does not linger as a zombie
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    fields = proc_stat_fields(pid)
    return fields is None or fields[0] != "Z"


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


def find_reusable(partition: str, config_hash: str) -> ServiceState | None:
    """The partition's running server if it is alive, healthy and serves the same config."""
    state = read_state(partition)
    if state and state.config_hash == config_hash and _pid_alive(state.pid) and is_healthy(state.base_url):
        return state
    return None


def stop_service(partition: str, timeout_s: float = 30.0) -> bool:
    """Stops the partition's server (its whole process group) and forgets it. True if one ran."""
    state = read_state(partition)
    if state is None:
        return False
    stopped = False
    if _pid_alive(state.pid):
        stopped = True
        _signal_group(state.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while _pid_alive(state.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _pid_alive(state.pid):
            _signal_group(state.pid, signal.SIGKILL)
    _state_path(partition).unlink(missing_ok=True)
    return stopped


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def start_service(
    partition: str,
    serve_args: list[str],
    host: str,
    port: int,
    config_hash: str,
    env: dict[str, str],
    timeout_s: float,
    on_progress: Callable[[str], None] = lambda message: None,
) -> tuple[ServiceState, StartupReading, float]:
    """Starts ``vllm serve`` in its own session and waits for ``/health``.

    Returns the state, what the log showed, and the seconds from launch to healthy. On failure
    the process group is killed and the state removed: nothing is left holding the port.
    """
    stop_service(partition)
    if port_in_use(host, port):
        raise ServiceStartError(
            f"port {port} on {host} is already in use by another process; stop it or set "
            f"runtime.port in the deployment '{partition}' to a free port"
        )
    folder = services_dir() / partition
    folder.mkdir(parents=True, exist_ok=True)
    log_path = folder / "server.log"
    command = serve_argv(serve_args)
    process_env = {**os.environ, **env, "PYTHONPATH": project_pythonpath()}
    started = time.monotonic()
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=process_env,
            cwd=PROJECT_ROOT,
            start_new_session=True,
        )
    state = ServiceState(partition, process.pid, host, port, config_hash, time.time(), str(log_path))
    _state_path(partition).write_text(json.dumps(asdict(state), indent=2))
    on_progress(f"started vllm serve (pid {process.pid}); log: {log_path}")

    def stopped() -> Stopped | None:
        code = process.poll()
        return None if code is None else Stopped(f"exited with code {code}")

    try:
        reading, elapsed = wait_until_healthy(
            base_url=state.base_url,
            started=started,
            timeout_s=timeout_s,
            read_log=lambda: log_path.read_text(errors="replace"),
            stopped=stopped,
            who=f"vLLM server for '{partition}'",
            log_source=str(log_path),
            on_progress=on_progress,
            poll_s=HEALTH_POLL_S,
        )
    except BaseException:
        stop_service(partition)
        raise
    return state, reading, elapsed


def serve_argv(serve_args: list[str]) -> list[str]:
    """``vllm serve`` through the shim that runs whichever vLLM distribution is installed."""
    return [sys.executable, "-m", CLI_MODULE, "serve", *serve_args]


def process_group_pids(leader: int) -> list[int]:
    """Every process in the group a server leads (its engine and workers)."""
    pids = []
    for entry in Path("/proc").glob("[0-9]*"):
        fields = proc_stat_fields(entry.name)
        if fields is not None and int(fields[2]) == leader:  # state, ppid, pgrp
            pids.append(int(entry.name))
    return pids


class ProcessRuntime(Runtime):
    """``vllm serve`` on this machine, with the vLLM installed beside the pipeline."""

    kind = "process"

    def prepare_image(self, on_line: Log = _quiet) -> ImageInfo:
        from resources.runtime.local_vllm import describe_local_vllm

        return describe_local_vllm()

    def ensure_service(
        self,
        image: ImageInfo,
        weights_path: str,
        config_hash: str,
        on_progress: Log = _quiet,
        cold_start: bool = False,
        weights_volume: str | None = None,
    ) -> ServiceInfo:
        from resources.benchmark import worker
        from resources.serving import smoke_client
        from resources.serving.vllm_args import render_serve_args

        deployment, runtime = self.deployment, self.deployment.runtime
        serve_args = render_serve_args(deployment, weights_path)
        state = None if cold_start else find_reusable(deployment.service_name, config_hash)
        startup_s, folder_state = None, None
        if state is not None:
            reading = read_startup_log(Path(state.log_path).read_text(errors="replace"))
            on_progress(f"reusing healthy server pid {state.pid} at {state.base_url} (config {config_hash})")
        else:
            # The benchmark runs the local `vllm bench serve`: start its worker now, so that it
            # imports vLLM while the server starts instead of after (measured: 5-8 s less per cold
            # run on 2 cores; beside a reused server it would only compete with the smoke test).
            self.refuse_foreign_gpu_work()
            worker.prewarm()
            smoke_client.prewarm()  # the OpenAI client's import, likewise
            env = server_env(runtime)
            if CACHE_ENV not in env:
                folder = local_cache(*cache_slot(deployment, config_hash), cold_start)
                if not deployment.params.enforce_eager:
                    folder_state = "kept" if any(folder.iterdir()) else "empty"
                env |= cache_env(str(folder), env)
            on_progress(
                f"starting vllm serve {' '.join(serve_args)} ({'cold: empty' if cold_start else 'kept'} "
                f"compile cache {env[CACHE_ENV]})"
            )
            state, reading, startup_s = start_service(
                deployment.service_name,
                serve_args,
                runtime.host,
                runtime.port,
                config_hash,
                env,
                runtime.startup_timeout_s,
                on_progress=on_progress,
            )
            on_progress(f"server healthy at {state.base_url} after {startup_s:.1f} s")
        return ServiceInfo(
            base_url=state.base_url,
            served_model_name=deployment.served_model_name,
            config_hash=config_hash,
            serve_args=tuple(serve_args),
            command=tuple(serve_argv(serve_args)),
            startup_s=startup_s,
            reused=startup_s is None,
            log_path=state.log_path,
            phases=tuple(reading.reached),
            phase_durations=reading.phase_durations(),
            # vLLM's own word when it logs one; else what the folder held (the CPU build's Inductor
            # cache loads silently).
            compile_cache=reading.compile_cache or (folder_state if startup_s is not None else None),
            cold_start=cold_start and startup_s is not None,
            kv_cache_tokens=reading.kv_cache_tokens,
            max_concurrency=reading.max_concurrency,
            pid=state.pid,
        )

    def refuse_foreign_gpu_work(self, nvml=None) -> None:
        """Refuses to start beside another process on the deployment's GPUs, as the docker runtime
        refuses beside another container: a run launched outside the queue (``dagster job execute``)
        must not share a GPU. ``nvml``: where to read the GPUs (default the driver; a replay in tests)."""
        if not self.deployment.needs_gpu:
            return
        from resources.hardware.gates import foreign_processes, selected_gpus
        from resources.hardware.report import collect_hardware_report
        from resources.hardware.requirements import used_gpu_ids

        report = collect_hardware_report(nvml=nvml)
        if not report.nvidia_driver_present:
            return  # nothing to share; the nvidia_driver gate has said why this cannot run
        own = self.own_pids()
        busy = [
            f"GPU {gpu.index}: " + ", ".join(f"pid {p.pid} ({p.used_memory_mib} MiB)" for p in procs)
            for gpu in selected_gpus(report, used_gpu_ids(self.deployment))
            if (procs := foreign_processes(gpu, own))
        ]
        if busy:
            raise ServiceStartError(
                f"refusing to start '{self.deployment.key}': its GPUs run other work ({'; '.join(busy)}). "
                "Only one service may hold a GPU; stop that work first, or pin other GPUs with "
                "CUDA_VISIBLE_DEVICES in runtime.env"
            )

    def run_benchmark(
        self,
        service: ServiceInfo,
        bench_args: list[str],
        result_path: Path,
        on_line: Log = _quiet,
        env: dict[str, str] | None = None,
        context=None,
    ) -> dict:
        from resources.benchmark.runner import run_bench_serve

        return run_bench_serve(bench_args, result_path, env=env, on_line=on_line)

    def stop(self) -> bool:
        return stop_service(self.deployment.service_name)

    def energy_meter(self):
        if not self.deployment.needs_gpu:
            return None
        from resources.hardware.energy import EnergyMeter, serving_gpus

        return EnergyMeter.open(serving_gpus(self.deployment.runtime.env))

    def own_pids(self) -> list[int]:
        state = read_state(self.deployment.service_name)
        return process_group_pids(state.pid) if state and _pid_alive(state.pid) else []

    def plan(self) -> str:
        from resources.runtime.command_line import shell_join
        from resources.serving.vllm_args import render_serve_args
        from resources.weights.fetch import planned_weights_path

        runtime = self.deployment.runtime
        env = dict(runtime.env)
        if runtime.api_key_env:
            env["VLLM_API_KEY"] = f"${runtime.api_key_env}"  # shown as the variable it is read from
        if CACHE_ENV not in env:
            scope, key = cache_slot(self.deployment, "<config-hash>")
            env |= cache_env(str(compile_cache_dir() / scope / key), env)
        serve = serve_argv(render_serve_args(self.deployment, planned_weights_path(self.deployment)))
        assignments = [f"{key}={value}" for key, value in sorted(env.items())]
        return (
            f"# plan for '{self.deployment.key}': runtime process; no docker command runs, the pipeline "
            "starts on this machine (the compile cache is kept per config hash):\n"
            + shell_join(["env", *assignments, *serve])
            + "\n"
        )
