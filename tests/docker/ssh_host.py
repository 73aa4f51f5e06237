"""Where tests/docker/start_ssh_host_engine.sh puts the engine that plays a GPU host reached over ssh://."""

from __future__ import annotations

import os
from pathlib import Path

START_SCRIPT = Path(__file__).resolve().parent / "start_ssh_host_engine.sh"
ADDRESS = "10.232.0.2"
ENGINE = f"ssh://root@{ADDRESS}"
HOST_NAME = "eval-ssh-host"
STATE_DIR = Path(os.environ.get("EVAL_SSH_HOST_DIR", "/var/lib/vllm-eval-ssh-host"))
# Its dockerd's own pid file: the fault test kills that process to lose the host mid-run.
DOCKERD_PIDFILE = Path("/run/vllm-eval-ssh-host/dockerd.pid")
