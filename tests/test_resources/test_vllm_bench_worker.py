"""The warm ``vllm bench serve`` worker: one process, several invocations, exit codes kept."""

from __future__ import annotations

from resources.benchmark.worker import BenchWorker


def test_one_worker_runs_several_invocations_and_reports_each_exit_code():
    lines: list[str] = []
    with BenchWorker() as worker:
        assert worker.run(["--help"], on_line=lines.append) == 0
        assert any("usage: vllm bench serve" in line for line in lines), "vLLM's own bench parser answered"
        assert worker.run(["--no-such-flag"], env={"OPENAI_API_KEY": "x"}) == 2
        assert worker.run(["--help"]) == 0 and worker.alive, "a failed invocation leaves the worker up"
    assert not worker.alive
