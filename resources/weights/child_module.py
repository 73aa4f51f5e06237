"""Runs one of the project's modules in a child interpreter and reads back its one result line.

Weights are made in a child (a GGUF converted, a shape model generated) so that what the work
holds (a dequantized model's memory, a CUDA context that torch keeps until its process exits) goes
when the child does, and never stays in the run's process. The child prints progress lines, which
reach ``on_line`` as they come (a progress bar drawn with carriage returns: one state of it every
few seconds), and a last line ``MARKER {json}`` with its result.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Callable

PROGRESS_BAR_EVERY_S = 5.0


class ChildModuleError(RuntimeError):
    """The child exited with an error or printed no result; the message carries its last lines."""


def run_child_module(module: str, args: list[str], marker: str, on_line: Callable[[str], None]) -> dict:
    from resources.config.eval_home import project_pythonpath

    env = {**os.environ, "PYTHONPATH": project_pythonpath(), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", module, *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, errors="replace",
    )  # fmt: skip
    tail: list[str] = []
    result, last_bar = None, 0.0
    for raw in process.stdout:
        for line in (part.strip() for part in raw.split("\r")):
            if not line:
                continue
            if line.startswith(marker):
                try:
                    result = json.loads(line[len(marker) :])
                except ValueError:
                    tail = (tail + [line])[-12:]
                continue
            tail = (tail + [line])[-12:]
            is_bar = "%|" in line
            if not is_bar or time.monotonic() - last_bar >= PROGRESS_BAR_EVERY_S or "100%|" in line:
                on_line(line)
                last_bar = time.monotonic() if is_bar else last_bar
    code = process.wait()
    if code != 0 or result is None:
        raise ChildModuleError(f"exited with {code}; its last lines: " + " | ".join(tail[-6:]))
    return result
