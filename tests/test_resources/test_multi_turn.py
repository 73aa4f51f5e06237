"""Conversations: the file a user writes, the turns a scenario becomes, and each turn's result in
vLLM's own form (the live path runs in tests/assets_tests/test_workloads_e2e.py)."""

from __future__ import annotations

import json

import pytest

from resources.benchmark.command import expand_scenario
from resources.benchmark.multi_turn import (
    ConversationError,
    read_conversations,
    saved_result,
    synthetic_conversations,
    write_conversations,
)
from resources.config.models import BenchmarkScenario
from resources.results.bench_json import parse_bench_result, parse_request_rows


def _chat(**overrides) -> BenchmarkScenario:
    spec = {"name": "chat", "input_len": 100, "output_len": 16, "num_prompts": 8, "max_concurrency": 4}
    return BenchmarkScenario(
        **{**spec, "workload": {"kind": "multi_turn", "file": "museum-chat", "turns": 3}, **overrides}
    )


def test_a_conversation_scenario_is_a_point_per_turn_in_order():
    points = expand_scenario(_chat())
    assert [(p.name, p.turn, p.max_concurrency) for p in points] == [
        ("chat/t1", 1, 4),
        ("chat/t2", 2, 4),
        ("chat/t3", 3, 4),
    ]


@pytest.mark.parametrize(
    "extra", [{"warmups": 1}, {"repeat": 2}, {"concurrency_ladder": {"max": 4}, "max_concurrency": None}]
)
def test_what_a_turn_by_turn_scenario_cannot_do_is_refused_by_name(extra):
    with pytest.raises(ValueError, match="a multi_turn workload runs each turn once"):
        _chat(**extra)


def test_the_shipped_conversations_share_one_system_prompt_and_have_their_turns(test_configs):
    conversations = read_conversations(test_configs / "conversations" / "museum-chat.jsonl")
    assert len(conversations) == 16 and {len(c.user_turns) for c in conversations} == {4}
    assert len({c.system for c in conversations}) == 1


def test_sharegpt_lines_are_read_and_a_broken_line_is_named(tmp_path):
    path = tmp_path / "c.jsonl"
    write_conversations(path, synthetic_conversations(2, 2, "Be brief."))
    [first, _] = read_conversations(path)
    assert first.system == "Be brief." and first.user_turns[0].startswith("Tell me about")
    path.write_text(path.read_text() + '{"id": "x", "conversations": [{"from": "narrator", "value": "?"}]}\n')
    with pytest.raises(ConversationError, match=r"c.jsonl: line 3: not a conversation"):
        read_conversations(path)


def test_a_turns_result_reads_as_a_vllm_bench_serve_result_with_vllms_definitions():
    records = [
        {
            "start": 0.0,
            "ttft": 0.1,
            "itl": [0.02, 0.03],
            "latency": 0.15,
            "text": "a b c",
            "input_len": 50,
            "output_len": 3,
            "error": None,
        },
        {
            "start": 0.01,
            "ttft": 0.3,
            "itl": [0.05],
            "latency": 0.4,
            "text": "a b",
            "input_len": 70,
            "output_len": 2,
            "error": None,
        },
        {"start": 0.02, "error": "HTTP 500: boom"},
    ]
    raw = json.loads(json.dumps(saved_result(records, duration=2.0, concurrency=2, started=0.0)))
    row = parse_bench_result(raw)
    assert (row["completed"], row["failed"], row["total_output_tokens"]) == (2, 1, 5)
    assert row["output_throughput"] == pytest.approx(2.5) and row["mean_ttft_ms"] == pytest.approx(200)
    # TPOT per request as vLLM: (latency - TTFT) / (output tokens - 1), then the mean over requests.
    assert row["mean_tpot_ms"] == pytest.approx(((0.05 / 2) + (0.1 / 1)) / 2 * 1000)
    requests = parse_request_rows(raw)
    assert [r["error"] for r in requests] == [None, None, "HTTP 500: boom"]
    assert requests[0]["tpot_ms"] == pytest.approx(25)
