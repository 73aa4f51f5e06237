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
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from resources.config.eval_home import PROJECT_ROOT, services_dir
from resources.serving.startup_log import StartupReading, read_startup_log

HEALTH_POLL_S = 0.1


class ServiceStartError(RuntimeError):
    """The server did not become healthy; the message carries the log's tail and a diagnosis."""


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
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def is_healthy(base_url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/health", timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


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
    command = [sys.executable, "-m", "resources.serving.vllm_cli", "serve", *serve_args]
    process_env = {**os.environ, **env, "PYTHONPATH": _pythonpath()}
    started = time.monotonic()
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=process_env, cwd=PROJECT_ROOT, start_new_session=True,
        )
    state = ServiceState(partition, process.pid, host, port, config_hash, time.time(), str(log_path))
    _state_path(partition).write_text(json.dumps(asdict(state), indent=2))
    on_progress(f"started vllm serve (pid {process.pid}); log: {log_path}")

    reported: set[str] = set()
    while True:
        if is_healthy(state.base_url, timeout=1.0):
            elapsed = time.monotonic() - started
            return state, read_startup_log(log_path.read_text(errors="replace")), elapsed
        reading = read_startup_log(log_path.read_text(errors="replace"))
        for phase in reading.reached:
            if phase not in reported:
                reported.add(phase)
                on_progress(f"start-up phase reached: {phase} (+{time.monotonic() - started:.1f} s)")
        exited = process.poll()
        timed_out = time.monotonic() - started > timeout_s
        if exited is not None or timed_out:
            stop_service(partition)
            what = f"exited with code {exited}" if exited is not None else f"not healthy after {timeout_s:g} s"
            raise ServiceStartError(_failure_message(partition, what, log_path, reading))
        time.sleep(HEALTH_POLL_S)


def _failure_message(partition: str, what: str, log_path: Path, reading: StartupReading) -> str:
    tail = log_path.read_text(errors="replace").splitlines()[-20:]
    lines = [f"vLLM server for '{partition}' {what}.", f"Phases reached: {', '.join(reading.reached) or 'none'}."]
    if reading.cause:
        lines.append(f"Cause: {reading.cause}")
        lines.append(f"Fix: {reading.hint}")
        if reading.root_cause_line:
            lines.append(f"Root-cause line: {reading.root_cause_line}")
    lines.append(f"Last log lines ({log_path}):")
    lines += [f"  {line}" for line in tail]
    return "\n".join(lines)


def _pythonpath() -> str:
    existing = os.environ.get("PYTHONPATH")
    return f"{PROJECT_ROOT}{os.pathsep}{existing}" if existing else str(PROJECT_ROOT)
