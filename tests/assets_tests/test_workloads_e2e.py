"""End to end, for real on vLLM's CPU build with SmolLM2: random prompts, a shared system prompt, a
replayed bursty trace and three turns of conversations, each recorded with its workload and the
prefix-cache hits the server counted beside the most the workload implies (vLLM's CPU build caches
whole 128-token blocks)."""

from __future__ import annotations

import json

import duckdb
import pytest

from resources.benchmark.command import trace_path
from resources.benchmark.trace import read_trace

pytestmark = pytest.mark.vllm

PARTITION = "smollm2-cpu-workloads"


@pytest.fixture(scope="module", autouse=True)
def _stop_the_server():
    """The server stops with this module: an idle CPU server takes cycles from every later test."""
    yield
    from resources.runtime.process import stop_service

    stop_service(PARTITION)


@pytest.fixture(scope="module")
def rows(run_chain, eval_home):
    result = run_chain(PARTITION)
    assert result.success, "the chain failed; see the Dagster log above"
    with duckdb.connect(str(eval_home / "results.duckdb"), read_only=True) as db:
        frame = db.execute(
            "SELECT scenario, workload, workload_params, workload_sha256, completed, failed, prefix_cache_hit_rate, "
            "prefix_cache_implied, prefix_cache_flag, bench_args FROM benchmark_results WHERE run_id = ?",
            [result.run_id],
        ).df()
    return {row["scenario"]: row for row in frame.to_dict("records")}


def test_each_workload_runs_through_vllms_own_benchmark_and_is_recorded(rows):
    assert {name: row["workload"] for name, row in rows.items()} == {
        "random": "random",
        "shared-prefix": "shared_prefix",
        "trace": "trace",
        "chat/t1": "multi_turn",
        "chat/t2": "multi_turn",
        "chat/t3": "multi_turn",
    }
    assert all(row["completed"] > 0 and row["failed"] == 0 for row in rows.values())
    assert "--dataset-name prefix_repetition" in rows["shared-prefix"]["bench_args"]
    assert json.loads(rows["shared-prefix"]["workload_params"]) == {"prefix_len": 256}
    assert "--dataset-name timed_trace" in rows["trace"]["bench_args"]
    assert rows["trace"]["workload_sha256"] == read_trace(trace_path("bursty-chat-small")).sha256


def test_the_random_scenarios_hits_are_what_vllms_warmups_imply(rows):
    random = rows["random"]
    # The warm-ups repeat the first prompt: 2 repeats of one 128-token block of its 256, of 18 prompts.
    assert random["prefix_cache_implied"] == pytest.approx(2 * 128 / (18 * 256), abs=0.01)
    assert random["prefix_cache_hit_rate"] == pytest.approx(random["prefix_cache_implied"], abs=0.03)
    assert random["prefix_cache_flag"] is None


def test_a_shared_system_prompt_is_served_from_the_prefix_cache(rows):
    shared = rows["shared-prefix"]
    assert shared["prefix_cache_hit_rate"] > 0.5 > rows["random"]["prefix_cache_hit_rate"]
    assert (
        shared["prefix_cache_hit_rate"] <= shared["prefix_cache_implied"] + 0.05 and shared["prefix_cache_flag"] is None
    )


def test_a_replayed_trace_hits_its_shared_blocks(rows):
    trace = rows["trace"]
    assert 0.3 < trace["prefix_cache_hit_rate"] <= trace["prefix_cache_implied"] + 0.05


def test_each_turn_of_a_conversation_carries_its_history_and_finds_it_in_the_prefix_cache(rows, eval_home):
    turns = [rows[f"chat/t{k}"] for k in (1, 2, 3)]
    assert all(t["completed"] == 8 and t["failed"] == 0 for t in turns)
    assert all("--conversations" in t["bench_args"] for t in turns)
    # Each turn's prompt is the whole conversation so far: its history, in whole 128-token blocks, is
    # cached from the turn before (measured: exactly that), never more than the server counted.
    for turn in turns[1:]:
        assert turn["prefix_cache_hit_rate"] > turns[0]["prefix_cache_hit_rate"]
        assert (
            turn["prefix_cache_hit_rate"] <= turn["prefix_cache_implied"] + 0.05 and turn["prefix_cache_flag"] is None
        )
    with duckdb.connect(str(eval_home / "results.duckdb"), read_only=True) as db:
        lengths = db.execute(
            "SELECT scenario, median(input_len) FROM benchmark_requests WHERE partition = ? AND scenario LIKE 'chat/%' "
            "GROUP BY 1 ORDER BY 1",
            [PARTITION],
        ).fetchall()
    assert [s for s, _ in lengths] == ["chat/t1", "chat/t2", "chat/t3"]
    assert lengths[0][1] < lengths[1][1] < lengths[2][1]  # the prompts grow turn by turn


def test_the_report_shows_the_turns_and_the_hit_rates_beside_throughput(rows, eval_home, tmp_path):
    from resources.report.build import build_report
    from resources.results.store import ResultsStore

    report = build_report(ResultsStore(eval_home / "results.duckdb"), tmp_path)
    turns = report.markdown[report.markdown.index("## Conversations, turn by turn") :]
    assert all(f"| {PARTITION} | chat" in turns and f" {k} " in turns for k in (1, 2, 3))
    assert "turns" in report.charts
    assert "(implied ≤" in report.markdown  # hit rates beside what the workload implies, in the results tables
