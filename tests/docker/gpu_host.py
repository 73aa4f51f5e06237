"""Where tests/docker/start_gpu_host_engine.sh puts the second engine that plays a remote GPU host."""

from __future__ import annotations

import os
from pathlib import Path

from resources.config.docker import EngineTls

START_SCRIPT = Path(__file__).resolve().parent / "start_gpu_host_engine.sh"
ENGINE = "tcp://10.231.0.2:2376"
HOST_NAME = "eval-gpu-host"
WEIGHTS_DIR = "/srv/vllm-eval-gpu-host/weights"  # a 2 GiB tmpfs that only that engine's containers see
WEIGHTS_DISK_BYTES = 2 * 2**30
TLS_DIR = Path(os.environ.get("EVAL_GPU_HOST_DIR", "/var/lib/vllm-eval-gpu-host")) / "tls"
TLS = EngineTls(
    ca_cert=str(TLS_DIR / "ca.pem"), client_cert=str(TLS_DIR / "cert.pem"), client_key=str(TLS_DIR / "key.pem")
)
