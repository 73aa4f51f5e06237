"""The host processes of this deployment's own server, which the idle-GPU gate must not count.

With ``teardown: keep`` the server from last night still holds its GPUs when tonight's run checks
the host; those GPUs are busy with the very service the run is about to reuse, not with a
stranger. Anything else on them still fails the gate.
"""

from __future__ import annotations

from pathlib import Path

from resources.config.models import Deployment


def process_group_pids(leader: int) -> list[int]:
    """Every process in the group a ``process`` runtime server leads (its engine and workers)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == leader:  # fields after the command: state, ppid, pgrp
            pids.append(int(stat.parent.name))
    return pids


def own_service_pids(deployment: Deployment) -> list[int]:
    """Host pids of the partition's running server, or none (never raises: a gate helper)."""
    try:
        if deployment.runtime.kind == "process":
            from resources.runtime.process import read_state

            state = read_state(deployment.key)
            return process_group_pids(state.pid) if state else []
        if deployment.runtime.kind == "docker":
            from resources.runtime.docker.engine import connect
            from resources.runtime.docker.spec import container_name

            client = connect(deployment.runtime.docker.engine, timeout_s=10)
            try:
                container = client.containers.get(container_name(deployment.key))
                if container.status != "running":
                    return []
                top = container.top()
                column = top["Titles"].index("PID")
                return [int(row[column]) for row in top["Processes"]]
            finally:
                client.close()
    except Exception:  # no engine, no container, no state: nothing of ours holds a GPU
        return []
    return []
