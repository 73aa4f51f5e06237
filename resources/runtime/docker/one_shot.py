"""A short-lived container run to completion for one answer: the hardware capture, the hash of a
weights volume. What ending one takes is the same for every such container: its exit status and
output, its removal whatever happened, and the JSON line it printed after a marker. Each caller
raises its own error, in its own words."""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class Finished:
    status_code: int | None
    out: str  # stdout
    err_lines: list[str]  # stderr, read only when the container failed

    @property
    def failed(self) -> bool:
        return self.status_code != 0


def wait_finished(container, timeout_s: float) -> Finished:
    """Waits for the container to exit and reads what it printed."""
    status = container.wait(timeout=timeout_s)
    out = container.logs(stdout=True, stderr=False).decode(errors="replace")
    code = status.get("StatusCode")
    err = container.logs(stdout=False, stderr=True).decode(errors="replace").strip().splitlines() if code != 0 else []
    return Finished(code, out, err)


@contextmanager
def removed_afterwards(container):
    """Removes the container when the block ends, however it ends."""
    import docker.errors

    try:
        yield container
    finally:
        try:
            container.remove(force=True)
        except docker.errors.APIError:
            pass


def marked_result(out: str, marker: str) -> dict | None:
    """The JSON after ``marker`` on the last line that starts with it, or None."""
    lines = [line for line in out.splitlines() if line.startswith(marker)]
    return json.loads(lines[-1][len(marker) :]) if lines else None
