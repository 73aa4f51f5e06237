"""Runs vLLM's own load generator, ``vllm bench serve``, and returns its saved result.

We do not write our own load generator: the field's reference numbers come from this tool,
and ours must match it. Its output is streamed line by line so long runs show progress.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable

from resources.benchmark import worker as vllm_bench_worker
from resources.config.eval_home import PROJECT_ROOT, project_pythonpath
from resources.serving.vllm_cli import CLI_MODULE


class BenchRunError(RuntimeError):
    """``vllm bench serve`` failed; the message carries its last output lines."""


def run_bench_serve(
    bench_args: list[str],
    result_path: Path,
    env: dict[str, str] | None = None,
    on_line: Callable[[str], None] = lambda line: None,
    timeout_s: float = 3600,
) -> dict:
    command = [sys.executable, "-m", CLI_MODULE, "bench", "serve", *bench_args]
    result_path.parent.mkdir(parents=True, exist_ok=True)
    result_path.unlink(missing_ok=True)
    if vllm_bench_worker.enabled():
        # One warm process for all of a run's benchmark points: vLLM's start-up is paid once.
        last: list[str] = []

        def keep(line: str) -> None:
            last[:] = (last + [line.rstrip()])[-30:]
            on_line(line.rstrip())

        try:
            code = vllm_bench_worker.shared_worker().run(bench_args, env=env, on_line=keep, timeout_s=timeout_s)
        except vllm_bench_worker.BenchWorkerError as exc:
            raise BenchRunError(str(exc)) from None
        return _saved_result(code, result_path, last)
    process_env = {**os.environ, **(env or {}), "PYTHONPATH": project_pythonpath()}
    tail: list[str] = []
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        env=process_env,
        cwd=PROJECT_ROOT,
    )
    try:
        for line in process.stdout:
            line = line.rstrip()
            tail = (tail + [line])[-30:]
            on_line(line)
        code = process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        raise BenchRunError(f"vllm bench serve ran past {timeout_s:g} s and was stopped") from None
    return _saved_result(code, result_path, tail)


def _saved_result(code: int, result_path: Path, tail: list[str]) -> dict:
    if code != 0 or not result_path.exists():
        raise BenchRunError(
            f"vllm bench serve exited with code {code} and saved "
            f"{'no result' if not result_path.exists() else 'a result'}; last lines:\n" + "\n".join(tail)
        )
    return json.loads(result_path.read_text())
