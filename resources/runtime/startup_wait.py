"""The one wait for a starting vLLM server, whatever runs it: poll ``/health``, report each
start-up phase as the log reaches it, and on failure raise one message with the diagnosis.

The runtime supplies what only it knows: how to read the server's log, and whether the server
has stopped (a process's exit code, a container's ``State``, which the diagnosis reads too).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from resources.serving.health import is_healthy
from resources.serving.startup_diagnosis import diagnose, format_diagnosis
from resources.serving.startup_log import StartupReading, read_startup_log


class ServiceStartError(RuntimeError):
    """The server did not become healthy; the message carries the diagnosis and the log's tail."""


@dataclass(frozen=True)
class Stopped:
    what: str  # "exited with code 1", as the failure message says it
    state: dict | None = None  # a container's State: OOMKilled and State.Error are only there


def wait_until_healthy(
    *,
    base_url: str,
    started: float,
    timeout_s: float,
    read_log: Callable[[], str],
    stopped: Callable[[], Stopped | None],
    who: str,
    log_source: str,
    on_progress: Callable[[str], None] = lambda message: None,
    poll_s: float = 0.1,
    after: str = "",
    error: type[ServiceStartError] = ServiceStartError,
) -> tuple[StartupReading, float]:
    """(the start-up log's reading, seconds from ``started`` (a ``time.monotonic()``) to healthy).

    ``who`` names the server in the failure message ("vLLM server for 'tiny-cpu-eager'"), ``after``
    says what was done about it ("; it has been removed")."""
    reported: set[str] = set()
    while True:
        halted = stopped()
        if halted is None and is_healthy(base_url, timeout=1.0):
            return diagnose(read_log()), time.monotonic() - started
        log = read_log()
        for phase in read_startup_log(log).reached:
            if phase not in reported:
                reported.add(phase)
                on_progress(f"start-up phase reached: {phase} (+{time.monotonic() - started:.1f} s)")
        timed_out = time.monotonic() - started > timeout_s
        if halted is not None or timed_out:
            what = halted.what if halted is not None else f"was not healthy after {timeout_s:g} s"
            diagnosis = diagnose(log, halted.state if halted is not None else None, timed_out)
            raise error(f"{who} {what}{after}.\n" + format_diagnosis(diagnosis, log.splitlines()[-20:], log_source))
        time.sleep(poll_s)
