"""One warm process for every ``vllm bench serve`` of a run.

Starting ``vllm bench serve`` costs seconds before the first request is sent: the CLI imports
vLLM, torch and transformers. A deployment with a concurrency ladder or a rate sweep runs it once
per load point, and would pay that start-up each time. This worker imports vLLM's command line
once, then runs ``vllm bench serve`` (vLLM's own code, unchanged, through its own ``main``) for
each argument list it is sent, one after the other.

Protocol: one JSON object ``{"args": [...], "env": {...}}`` per line on stdin; the output of
that invocation on stdout, then a line ``<SENTINEL> <exit code>``. End of stdin (the parent
finished or died), or ``IDLE_EXIT_S`` without a request, ends the worker.

    code = shared_worker().run(["--backend", "vllm", ...], env={"OPENAI_API_KEY": ...}, on_line=print)

``shared_worker()`` keeps one worker per Python process, so a run's benchmark points share it;
``prewarm()`` starts it early, to import vLLM while other work (the server's start-up, the smoke
test) goes on. ``EVAL_BENCH_WORKER=0`` turns it off: one ``vllm bench serve`` process per point.
"""

from __future__ import annotations

import atexit
import json
import os
import subprocess
import sys
import threading
import traceback
from typing import Callable

from resources.config.eval_home import PROJECT_ROOT, project_pythonpath

WORKER_MODULE = __spec__.name  # what `python -m` runs to start the worker

SENTINEL = "\x1evllm-bench-worker-exit"
IDLE_EXIT_S = 600.0
# What vLLM's CLI imports before it parses a command: loaded once, before the first request.
_PRELOAD = ("vllm.entrypoints.cli.main", "vllm.entrypoints.cli.benchmark.main", "vllm.benchmarks.serve")


class BenchWorkerError(RuntimeError):
    """The worker died or ran past its time; the message carries its last output lines."""


class BenchWorker:
    """The parent's handle: starts the worker (which starts importing at once) and sends it work."""

    def __init__(self):
        process_env = {**os.environ, "PYTHONPATH": project_pythonpath()}
        self.process = subprocess.Popen(
            [sys.executable, "-m", WORKER_MODULE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=process_env,
            cwd=PROJECT_ROOT,
            bufsize=1,
        )

    def run(
        self,
        bench_args: list[str],
        env: dict[str, str] | None = None,
        on_line: Callable[[str], None] = lambda line: None,
        timeout_s: float = 3600,
    ) -> int:
        """Runs ``vllm bench serve <bench_args>`` in the worker, with ``env`` added; its exit code."""
        if self.process.poll() is not None:
            raise BenchWorkerError(f"the vllm bench worker exited with code {self.process.returncode}")
        timer = threading.Timer(timeout_s, self.process.kill)
        timer.start()
        tail: list[str] = []
        try:
            self.process.stdin.write(json.dumps({"args": bench_args, "env": env or {}}) + "\n")
            self.process.stdin.flush()
            for line in self.process.stdout:
                line = line.rstrip("\n")
                if line.startswith(SENTINEL):
                    return int(line.split()[-1])
                tail = (tail + [line])[-30:]
                on_line(line)
        except BrokenPipeError:
            pass
        finally:
            timer.cancel()
        code = self.process.wait()
        raise BenchWorkerError(
            f"the vllm bench worker {'ran past ' + format(timeout_s, 'g') + ' s' if code == -9 else 'exited'} "
            f"(code {code}) during a benchmark; last lines:\n" + "\n".join(tail)
        )

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self, wait: bool = True) -> None:
        """Ends the worker by closing its stdin; ``wait=False`` lets it exit on its own time."""
        try:
            self.process.stdin.close()
        except BrokenPipeError:
            pass
        if wait:
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process.stdout.close()

    def __enter__(self) -> BenchWorker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_shared: BenchWorker | None = None
_shared_lock = threading.Lock()


def enabled() -> bool:
    return os.environ.get("EVAL_BENCH_WORKER", "1").strip().lower() not in ("0", "false", "no", "off")


def shared_worker() -> BenchWorker:
    """This process's worker, started on first use (or again if it has exited)."""
    global _shared
    with _shared_lock:
        if _shared is None or not _shared.alive:
            _shared = BenchWorker()
        return _shared


def prewarm() -> None:
    """Starts the worker now so that vLLM is imported by the time the benchmark needs it."""
    if enabled():
        shared_worker()


@atexit.register
def close_shared(wait: bool = False) -> None:
    """At exit the worker is told to end, not waited for: its own shutdown (vLLM, torch) takes a
    second or two that nobody needs to sit through."""
    global _shared
    with _shared_lock:
        if _shared is not None:
            _shared.close(wait=wait)
            _shared = None


def _serve_requests() -> int:
    """The worker: preload vLLM's CLI, then run one ``vllm bench serve`` per line of stdin."""
    import importlib

    from resources.serving.vllm_cli import _patch_version_lookup

    _patch_version_lookup()
    for name in _PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:  # another vLLM layout: main() imports what it needs itself
            pass
    from vllm.entrypoints.cli.main import main as vllm_main

    idle = _idle_exit_timer()
    for request in sys.stdin:  # ends with stdin: the parent is done (or gone)
        idle.cancel()
        if not request.strip():
            idle = _idle_exit_timer()
            continue
        job = json.loads(request)
        sys.argv = ["vllm", "bench", "serve", *job["args"]]
        saved = {key: os.environ.get(key) for key in job["env"]}
        os.environ.update(job["env"])
        try:
            vllm_main()
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        except BaseException:  # report and stay up: the parent decides what a failure means
            traceback.print_exc(file=sys.stdout)
            code = 1
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        sys.stdout.flush()
        sys.stderr.flush()
        print(f"{SENTINEL} {code}", flush=True)
        idle = _idle_exit_timer()
    return 0


def _idle_exit_timer() -> threading.Timer:
    """Ends a worker nobody has used for IDLE_EXIT_S (a parent that lives on, e.g. a test session)."""
    timer = threading.Timer(IDLE_EXIT_S, os._exit, args=(0,))
    timer.daemon = True
    timer.start()
    return timer


if __name__ == "__main__":
    sys.exit(_serve_requests())
