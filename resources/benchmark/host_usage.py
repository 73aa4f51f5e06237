"""How busy the host was while a benchmark ran, and how much of that was the benchmark itself.

Read from ``/proc`` (Linux): the host's busy CPU time from ``/proc/stat``, and the CPU time of
the server's and the load generator's process trees from ``/proc/<pid>/stat``, or, for a server
in a container on this machine's engine, of the container's control group (every process in it,
``docker exec``'d ones included, which are not descendants of its first process). On a 2-core
host the server and the load generator alone keep both cores busy; that is the measurement.
What counts as contention is the busy time beyond theirs ("others"), in cores.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

_PROC = Path("/proc")
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class Snapshot:
    at: float
    host_busy_s: float | None
    tree_cpu_s: dict[str, float]


@dataclass(frozen=True)
class HostUsage:
    """CPU use over one benchmark, in cores (CPU seconds per wall second)."""

    wall_s: float
    cpu_count: int
    host_cores: float | None  # everything that ran on the host
    own_cores: dict[str, float]  # per named process tree (server, load generator)

    @property
    def others_cores(self) -> float | None:
        if self.host_cores is None:
            return None
        return max(0.0, self.host_cores - sum(self.own_cores.values()))

    def as_row(self) -> dict:
        return {
            "host_cpu_cores": self.host_cores,
            "server_cpu_cores": self.own_cores.get("server"),
            "loadgen_cpu_cores": self.own_cores.get("load_generator"),
            "other_cpu_cores": self.others_cores,
            "cpu_count": self.cpu_count,
        }


def _host_busy_s() -> float | None:
    try:
        fields = (_PROC / "stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return None
    values = [int(v) for v in fields]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    # guest time is already counted in user time
    return (sum(values[:8]) - idle) / _TICKS


def proc_stat_fields(pid: int | str) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (state, ppid, pgrp, ...), or None
    for a process that is gone or half gone: one that exits between a listing of /proc and the
    read can give an error or an empty file, and whoever walks /proc must step over it, not stop."""
    try:
        text = (_PROC / str(pid) / "stat").read_bytes()
    except OSError:
        return None
    _, paren, rest = text.rpartition(b")")  # the command name may itself hold ")" or any byte
    fields = rest.split()
    return [f.decode("ascii", "replace") for f in fields] if paren and len(fields) > 14 else None


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fields = proc_stat_fields(entry.name)
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


def _cpu_s(pid: int) -> float:
    fields = proc_stat_fields(pid)
    if fields is None:
        return 0.0
    # utime + stime, plus the time of children it has already waited for (a finished
    # ``vllm bench serve`` subprocess leaves the tree but its time stays in the parent's).
    return sum(int(v) for v in fields[11:15]) / _TICKS


@dataclass(frozen=True)
class Cgroup:
    """A control group's CPU counter: ``cpu.stat`` (cgroup v2, microseconds) or
    ``cpuacct.usage`` (v1, nanoseconds)."""

    usage_file: str

    def cpu_s(self) -> float:
        try:
            text = Path(self.usage_file).read_text()
        except OSError:
            return 0.0
        if self.usage_file.endswith("cpu.stat"):
            fields = dict(line.split() for line in text.splitlines() if line.strip())
            return int(fields.get("usage_usec", 0)) / 1e6
        return int(text.strip() or 0) / 1e9


def cgroup_of(pid: int, root: Path = Path("/sys/fs/cgroup")) -> Cgroup | None:
    """The CPU counter of the control group a process lives in, or None when it cannot be read."""
    try:
        lines = (_PROC / str(pid) / "cgroup").read_text().splitlines()
    except OSError:
        return None
    return cgroup_usage_file(lines, root)


def cgroup_usage_file(lines: list[str], root: Path) -> Cgroup | None:
    """From ``/proc/<pid>/cgroup`` lines: v1's cpuacct hierarchy where mounted, else v2's unified one."""
    # The root group is the whole host, not the process: None, as for a process with no group.
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "cpuacct" in controllers.split(",") and path not in ("", "/"):
            for mount in (controllers, "cpuacct", "cpu,cpuacct"):
                candidate = root / mount / path.lstrip("/") / "cpuacct.usage"
                if candidate.exists():
                    return Cgroup(str(candidate))
    for line in lines:
        hierarchy, controllers, path = line.split(":", 2)
        if hierarchy == "0" and controllers == "":
            for base in (root, root / "unified"):
                candidate = base / path.lstrip("/") / "cpu.stat"
                if candidate.exists() and path not in ("", "/"):
                    return Cgroup(str(candidate))
    return None


def tree_cpu_s(root: int, children: dict[int, list[int]] | None = None, skip: set[int] = frozenset()) -> float:
    """CPU seconds of a process and its living descendants, leaving out the subtrees under ``skip``
    (a server started by this same process is its own tree, not the load generator's)."""
    children = children if children is not None else _children_map()
    total, stack, seen = 0.0, [root], set(skip)
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += _cpu_s(pid)
        stack += children.get(pid, [])
    return total


def snapshot(trees: dict[str, int | Cgroup | None]) -> Snapshot:
    """``trees`` names what to account for: a process tree (its root pid) or a control group;
    None is skipped."""
    children = _children_map()
    roots = {pid for pid in trees.values() if isinstance(pid, int)}

    def cpu_s(source):
        return source.cpu_s() if isinstance(source, Cgroup) else tree_cpu_s(source, children, roots - {source})

    return Snapshot(time.monotonic(), _host_busy_s(), {name: cpu_s(source) for name, source in trees.items() if source})


def usage_between(before: Snapshot, after: Snapshot) -> HostUsage:
    wall = max(after.at - before.at, 1e-9)
    host = None
    if before.host_busy_s is not None and after.host_busy_s is not None:
        host = (after.host_busy_s - before.host_busy_s) / wall
    own = {
        name: max(0.0, after.tree_cpu_s[name] - before.tree_cpu_s.get(name, 0.0)) / wall for name in after.tree_cpu_s
    }
    return HostUsage(wall, os.cpu_count() or 1, host, own)


class Sampler:
    """Samples the host and the named process trees every ``period_s`` in a thread, so the usage
    of exactly the measured window (not the load generator's start-up) can be read afterwards.

    The first sample is taken on entry and the last on exit, in the caller's thread: however short
    the benchmark, and however little CPU the sampling thread got on a busy host, the window has
    both ends. A sample that fails (a /proc file that vanished mid-read) is skipped, not fatal."""

    def __init__(self, trees: dict[str, int | Cgroup | None], period_s: float = 0.25):
        self.trees, self.period_s = dict(trees), period_s
        self.samples: list[Snapshot] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="host-usage", daemon=True)

    def _sample(self) -> None:
        # Never two at once: the caller's samples come before the thread starts and after it ends.
        try:
            self.samples.append(snapshot(self.trees))
        except Exception:  # a figure for the contention check, never a reason to fail the benchmark
            pass

    def _run(self) -> None:
        while not self._stop.wait(self.period_s):
            self._sample()

    def __enter__(self) -> "Sampler":
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self._sample()

    def last_seconds(self, seconds: float) -> HostUsage | None:
        """Usage over the last ``seconds`` sampled (at least one sampling period)."""
        return last_seconds(self.samples, seconds)


def last_seconds(samples: list[Snapshot], seconds: float) -> HostUsage | None:
    """Usage over the last ``seconds`` of ``samples`` (at least one sampling period); None with
    fewer than two samples."""
    if len(samples) < 2:
        return None
    after = samples[-1]
    before = next((s for s in reversed(samples[:-1]) if after.at - s.at >= seconds), samples[0])
    return usage_between(before, after)


def usage_row(samples: list[Snapshot], seconds: float) -> dict | None:
    """The result row's host-usage columns over the last ``seconds`` (the benchmark's own duration);
    None without two samples. Where the server's own CPU time was not read (a remote host, an
    endpoint), contention cannot be told from the server's load: ``other_cpu_cores`` is None."""
    usage = last_seconds(samples, seconds)
    if usage is None:
        return None
    row = usage.as_row()
    if "server" not in usage.own_cores:
        row["other_cpu_cores"] = None
    return row
