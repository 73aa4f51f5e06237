"""Whether a vLLM server answers: its ``GET /health``."""

from __future__ import annotations

import urllib.error
import urllib.request


def is_healthy(base_url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/health", timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False
