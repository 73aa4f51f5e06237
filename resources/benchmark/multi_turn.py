"""Multi-turn conversations: the project's own load generator, where ``vllm bench serve`` has none.

A conversation file (``configs/conversations/NAME.jsonl``) holds one conversation a line in the
ShareGPT form: ``{"id": ..., "conversations": [{"from": "system"|"human"|"gpt", "value": ...}, ...]}``.
The human turns are sent; the assistant's turns are the model's own replies, so turn k's prompt
carries the whole history the server just produced (and may find in its prefix cache).

A scenario's turns are load points of their own (``<scenario>/t1``, ``t2``, ...), run in order: turn
k of every conversation (``max_concurrency`` in flight), then turn k+1, so vLLM's counters read
around each point give the prefix-cache hits of that turn. The histories are kept between turns in
a file beside the results, so a turn is replayable from it.

Each turn's result is written in the form ``vllm bench serve --save-result --save-detailed`` writes
(the same fields, the same metric definitions: TTFT to the first streamed token, TPOT
``(latency - TTFT) / (output tokens - 1)``, ITL the gaps between chunks), so it is read, judged and
stored exactly as vLLM's own results are.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROLES = {"system": "system", "human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant"}


class ConversationError(ValueError):
    """A conversation file is missing or not in the ShareGPT form; the message names the line."""


@dataclass(frozen=True)
class Conversation:
    id: str
    system: str | None
    user_turns: tuple[str, ...]


def read_conversations(path: Path) -> list[Conversation]:
    if not path.is_file():
        raise ConversationError(
            f"{path}: no such conversation file; write one with `python -m pipelines make-conversations {path.stem}`"
        )
    conversations = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            messages = entry["conversations"]
            roles = [ROLES[m["from"]] for m in messages]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ConversationError(
                f"{path}: line {number}: not a conversation ({type(exc).__name__}: {exc}); each line is "
                '{"id": ..., "conversations": [{"from": "human", "value": ...}, ...]}'
            ) from None
        users = tuple(m["value"] for m, role in zip(messages, roles) if role == "user")
        if not users:
            raise ConversationError(f"{path}: line {number}: the conversation has no human turn")
        system = next((m["value"] for m, role in zip(messages, roles) if role == "system"), None)
        conversations.append(Conversation(str(entry.get("id", number)), system, users))
    if not conversations:
        raise ConversationError(f"{path}: no conversations")
    return conversations


_TOPICS = (
    "the water cycle", "volcanoes", "honey bees", "the moon", "bread baking", "glaciers", "owls", "tides",
    "rainbows", "coral reefs", "bicycles", "lighthouses", "maple syrup", "penguins", "thunderstorms", "compost",
)  # fmt: skip
_FOLLOW_UPS = (
    "Can you say that more simply?",
    "Give one surprising fact about it.",
    "How would you explain it to a child?",
    "What is a common misconception about it?",
    "Summarise our conversation in one sentence.",
)


def synthetic_conversations(count: int, turns: int, system_prompt: str, seed: int = 0) -> list[dict]:
    """``count`` conversations of ``turns`` human turns each, all under one system prompt (ShareGPT form)."""
    rng = random.Random(seed)
    rows = []
    for index in range(count):
        topic = _TOPICS[index % len(_TOPICS)]
        questions = [f"Tell me about {topic}."] + rng.sample(_FOLLOW_UPS, k=min(turns - 1, len(_FOLLOW_UPS)))
        messages = [{"from": "system", "value": system_prompt}]
        messages += [{"from": "human", "value": question} for question in questions[:turns]]
        rows.append({"id": f"chat-{index:03d}", "conversations": messages})
    return rows


def write_conversations(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


def first_messages(conversation: Conversation) -> list[dict]:
    return [{"role": "system", "content": conversation.system}] if conversation.system else []


async def _one_request(client, url: str, headers: dict, model: str, messages: list[dict], max_tokens: int) -> dict:
    """One streamed chat completion: when each chunk came, the reply, and the server's token counts."""
    body = {
        "model": model,
        "messages": messages,
        "max_tokens": max_tokens,
        "temperature": 0,
        "ignore_eos": True,  # a fixed reply length, as vllm bench serve's --ignore-eos
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    started = time.perf_counter()
    arrivals, text, usage = [], [], {}
    try:
        async with client.stream("POST", url, json=body, headers=headers) as response:
            if response.status_code != 200:
                detail = (await response.aread()).decode(errors="replace")[:300]
                return {"error": f"HTTP {response.status_code}: {detail}", "start": started}
            async for line in response.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                chunk = json.loads(line[6:])
                if chunk.get("usage"):
                    usage = chunk["usage"]
                for choice in chunk.get("choices") or []:
                    content = (choice.get("delta") or {}).get("content")
                    if content:
                        arrivals.append(time.perf_counter())
                        text.append(content)
    except Exception as exc:  # a broken connection is a failed request, as vllm bench serve records it
        return {"error": f"{type(exc).__name__}: {exc}", "start": started}
    if not arrivals:
        return {"error": "no content streamed", "start": started}
    return {
        "start": started,
        "ttft": arrivals[0] - started,
        "itl": [b - a for a, b in zip(arrivals, arrivals[1:])],
        "latency": time.perf_counter() - started,
        "text": "".join(text),
        "input_len": usage.get("prompt_tokens"),
        "output_len": usage.get("completion_tokens") or len(arrivals),
        "error": None,
    }


async def _send_all(
    base_url: str, model: str, api_key: str | None, prompts: list[list[dict]], max_tokens: int, concurrency: int
):
    import httpx

    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    limit = asyncio.Semaphore(concurrency)
    timeout = httpx.Timeout(600.0, connect=10.0)
    async with httpx.AsyncClient(timeout=timeout, limits=httpx.Limits(max_connections=concurrency)) as client:

        async def limited(messages):
            async with limit:
                return await _one_request(
                    client, f"{base_url}/v1/chat/completions", headers, model, messages, max_tokens
                )

        return await asyncio.gather(*(limited(messages) for messages in prompts))


def run_turn(
    base_url: str,
    model: str,
    api_key: str | None,
    conversations: list[Conversation],
    histories: dict[str, list[dict]],
    turn: int,
    max_tokens: int,
    concurrency: int,
) -> tuple[dict, dict[str, list[dict]]]:
    """Turn ``turn`` (1-based) of every conversation that has one: (the result in vLLM's saved form,
    the histories with this turn's exchange appended)."""
    active = [c for c in conversations if len(c.user_turns) >= turn]
    prompts = [
        histories.get(c.id, first_messages(c)) + [{"role": "user", "content": c.user_turns[turn - 1]}] for c in active
    ]
    started = time.perf_counter()
    records = asyncio.run(_send_all(base_url, model, api_key, prompts, max_tokens, concurrency))
    duration = time.perf_counter() - started
    updated = dict(histories)
    for conversation, prompt, record in zip(active, prompts, records):
        if record["error"] is None:
            updated[conversation.id] = prompt + [{"role": "assistant", "content": record["text"]}]
    return saved_result(records, duration, concurrency, started), updated


def _stats(values: list[float], prefix: str) -> dict:
    if not values:
        return {f"{stat}_{prefix}_ms": 0.0 for stat in ("mean", "median", "std", "p99")}
    ms = np.asarray(values) * 1000
    return {
        f"mean_{prefix}_ms": float(ms.mean()),
        f"median_{prefix}_ms": float(np.median(ms)),
        f"std_{prefix}_ms": float(ms.std()),
        f"p99_{prefix}_ms": float(np.percentile(ms, 99)),
    }


def saved_result(records: list[dict], duration: float, concurrency: int, started: float) -> dict:
    """What ``vllm bench serve --save-result --save-detailed`` would have written for these requests,
    computed as vLLM computes it (vllm/benchmarks/serve.py: calculate_metrics)."""
    ok = [r for r in records if r["error"] is None]
    tpots = [(r["latency"] - r["ttft"]) / (r["output_len"] - 1) for r in ok if r["output_len"] > 1]
    input_tokens = sum(r["input_len"] or 0 for r in ok)
    output_tokens = sum(r["output_len"] for r in ok)
    return {
        "backend": "openai-chat (multi-turn, this project's load generator)",
        "duration": duration,
        "completed": len(ok),
        "failed": len(records) - len(ok),
        "total_input_tokens": input_tokens,
        "total_output_tokens": output_tokens,
        "request_throughput": len(ok) / duration,
        "request_goodput": None,
        "output_throughput": output_tokens / duration,
        "total_token_throughput": (input_tokens + output_tokens) / duration,
        "max_concurrency": concurrency,
        "request_rate": math.inf,
        **_stats([r["ttft"] for r in ok], "ttft"),
        **_stats(tpots, "tpot"),
        **_stats([gap for r in ok for gap in r["itl"]], "itl"),
        **_stats([r["latency"] for r in ok], "e2el"),
        "input_lens": [r.get("input_len") or 0 for r in records],
        "output_lens": [r.get("output_len") or 0 for r in records],
        "ttfts": [r.get("ttft", 0.0) for r in records],
        "itls": [r.get("itl", []) for r in records],
        "latencies": [r.get("latency", 0.0) for r in records],
        "start_times": [r["start"] - started for r in records],
        "errors": [r["error"] or "" for r in records],
        # The most its prompts could find in the prefix cache: each conversation's history so far
        # (its system prompt once another conversation sent it), as tokens the server counted.
        "median_prompt_tokens": statistics.median([r["input_len"] for r in ok if r["input_len"]] or [0]),
    }
