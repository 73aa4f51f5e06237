"""The smoke test: does the server list the model, answer a chat, and stream one?

Uses the official ``openai`` client against the server's OpenAI-compatible API, as a user's
application would. Failures are recorded as findings, not raised, so the asset check can
report all of them at once.

Each streamed request is bracketed by two reads of the server's ``/metrics``, so the client's
time to first token can be set beside vLLM's own (``vllm:time_to_first_token_seconds``) for
exactly the same requests; see ``resources.serving.server_metrics``.
"""

from __future__ import annotations

import importlib
import sys
import threading
import time
from dataclasses import dataclass, field

from resources.config.models import SmokePrompt
from resources.config.secrets import mask
from resources.serving.server_metrics import TTFT_HISTOGRAM, HistogramTotals, fetch_metrics, histogram_totals


@dataclass
class PromptOutcome:
    name: str
    ok: bool
    content: str = ""
    completion_tokens: int | None = None
    latency_ms: float | None = None
    ttft_ms: float | None = None
    error: str | None = None


@dataclass
class SmokeOutcome:
    models_listed: list[str] = field(default_factory=list)
    served_name_listed: bool = False
    prompts: list[PromptOutcome] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    # vLLM's TTFT histogram over the streamed requests (after minus before); None without /metrics.
    server_ttft: HistogramTotals | None = None
    streamed_requests: int = 0

    @property
    def passed(self) -> bool:
        return not self.problems

    @property
    def stream_ttft_ms(self) -> float | None:
        values = [p.ttft_ms for p in self.prompts if p.ttft_ms is not None]
        return min(values) if values else None

    @property
    def client_ttft_mean_ms(self) -> float | None:
        """The client's mean TTFT over the streamed requests that gave a first token."""
        values = [p.ttft_ms for p in self.prompts if p.ttft_ms is not None]
        return sum(values) / len(values) if values else None

    @property
    def server_ttft_comparable(self) -> bool:
        """The server counted exactly our streamed requests: nothing else ran meanwhile."""
        return (self.server_ttft is not None and self.streamed_requests > 0
                and round(self.server_ttft.count) == self.streamed_requests
                and self.client_ttft_mean_ms is not None)

    @property
    def server_ttft_mean_ms(self) -> float | None:
        if self.server_ttft is None or self.server_ttft.mean is None:
            return None
        return self.server_ttft.mean * 1000

    @property
    def ttft_difference_ms(self) -> float | None:
        """Client minus server: HTTP, chat template, tokenization and streaming of the first chunk."""
        if not self.server_ttft_comparable:
            return None
        return self.client_ttft_mean_ms - self.server_ttft_mean_ms


def prewarm() -> None:
    """Imports the OpenAI client in a background thread (most of a second on 2 cores), to be called
    while something slower goes on, such as the server's start-up; ``run_smoke`` then finds it loaded
    (or waits for the thread's import to finish, never importing twice)."""
    if "openai" not in sys.modules:
        threading.Thread(target=importlib.import_module, args=("openai",), name="import-openai",
                         daemon=True).start()


def run_smoke(base_url: str, served_name: str, prompts: tuple[SmokePrompt, ...], api_key: str | None,
              timeout_s: float = 60.0) -> SmokeOutcome:
    from openai import OpenAI

    client = OpenAI(base_url=f"{base_url}/v1", api_key=api_key or "EMPTY", timeout=timeout_s, max_retries=0)
    outcome = SmokeOutcome()
    try:
        outcome.models_listed = [m.id for m in client.models.list().data]
    except Exception as exc:  # the endpoint answers garbage or nothing: a finding, not a crash
        outcome.problems.append(f"/v1/models failed: {_safe(exc, api_key)}")
        return outcome
    outcome.served_name_listed = served_name in outcome.models_listed
    if not outcome.served_name_listed:
        outcome.problems.append(
            f"/v1/models lists {outcome.models_listed}, not the served name '{served_name}'"
        )
        return outcome
    ttft_labels = {"model_name": served_name}
    for prompt in prompts:
        outcome.prompts.append(_chat(client, served_name, prompt, api_key))
        before = _ttft_totals(base_url, api_key, ttft_labels)
        outcome.prompts.append(_chat_streamed(client, served_name, prompt, api_key))
        outcome.streamed_requests += 1
        after = _ttft_totals(base_url, api_key, ttft_labels) if before is not None else None
        if before is None or after is None:
            outcome.server_ttft = None
            ttft_labels = None  # no usable histogram: stop reading /metrics for the other prompts
            continue
        outcome.server_ttft = (after - before) + (outcome.server_ttft or HistogramTotals(0.0, 0.0))
    outcome.problems += [f"prompt '{p.name}': {p.error}" for p in outcome.prompts if not p.ok]
    return outcome


def ttft_comparison(outcome: SmokeOutcome) -> dict:
    """Client and server TTFT for the same streamed requests, and their difference, as metadata."""
    client, server = outcome.client_ttft_mean_ms, outcome.server_ttft_mean_ms
    if outcome.server_ttft is None:
        note = "server TTFT unavailable: /metrics has no vllm:time_to_first_token_seconds histogram"
    elif not outcome.server_ttft_comparable:
        note = (f"server TTFT not comparable: the histogram counted {outcome.server_ttft.count:g} requests "
                f"while the smoke test streamed {outcome.streamed_requests} (other traffic, or a failed stream)")
    else:
        note = (f"TTFT over {outcome.streamed_requests} streamed request(s): client {client:.1f} ms, vLLM "
                f"/metrics {server:.1f} ms, difference {outcome.ttft_difference_ms:.1f} ms (HTTP, chat "
                "template, tokenization and streaming, which the server's figure leaves out)")
    metadata = {"ttft_comparison": note}
    if client is not None:
        metadata["client_ttft_ms"] = round(client, 2)
    if outcome.server_ttft_comparable:
        metadata["server_ttft_ms"] = round(server, 2)
        metadata["ttft_difference_ms"] = round(outcome.ttft_difference_ms, 2)
    return metadata


def _ttft_totals(base_url: str, api_key: str | None, labels: dict[str, str] | None) -> HistogramTotals | None:
    if labels is None:
        return None
    text = fetch_metrics(base_url, api_key)
    if text is None:
        return None
    # The model_name label is the first served name; fall back to every series if it differs.
    return histogram_totals(text, TTFT_HISTOGRAM, labels) or histogram_totals(text, TTFT_HISTOGRAM)


def _chat(client, served_name: str, prompt: SmokePrompt, api_key: str | None) -> PromptOutcome:
    started = time.perf_counter()
    try:
        response = client.chat.completions.create(
            model=served_name, messages=list(prompt.messages), max_tokens=prompt.max_tokens,
            extra_body=prompt.extra_body, **_tools(prompt),
        )
    except Exception as exc:
        return PromptOutcome(prompt.name, False, error=f"chat completion failed: {_safe(exc, api_key)}")
    latency = (time.perf_counter() - started) * 1000
    choice = response.choices[0] if response.choices else None
    content = (choice.message.content or "") if choice else ""
    reasoning = getattr(choice.message, "reasoning", None) or getattr(choice.message, "reasoning_content", None) if choice else None
    tokens = response.usage.completion_tokens if response.usage else None
    tool_calls = (choice.message.tool_calls or []) if choice else []
    ok = bool(content or reasoning or tool_calls) and bool(tokens)
    if ok and prompt.expect_tool_call and not tool_calls:
        return PromptOutcome(prompt.name, False, content[:200], tokens, latency,
                             error="expected a tool call, got text (is the tool-call parser set?)")
    if tool_calls:
        content = content or "tool call: " + ", ".join(call.function.name for call in tool_calls)
    return PromptOutcome(prompt.name, ok, content[:200], tokens, latency,
                         error=None if ok else "chat completion returned no text")


def _tools(prompt: SmokePrompt) -> dict:
    return {"tools": [dict(tool) for tool in prompt.tools]} if prompt.tools else {}


def _chat_streamed(client, served_name: str, prompt: SmokePrompt, api_key: str | None) -> PromptOutcome:
    """TTFT as vLLM's benchmark measures it: request sent to first streamed chunk with content."""
    started = time.perf_counter()
    ttft = None
    pieces = []
    chunks = 0
    try:
        stream = client.chat.completions.create(
            model=served_name, messages=list(prompt.messages), max_tokens=prompt.max_tokens,
            stream=True, extra_body=prompt.extra_body, **_tools(prompt),
        )
        for chunk in stream:
            if not chunk.choices:
                continue
            delta = chunk.choices[0].delta
            text = (delta.content or "") + (getattr(delta, "reasoning", None) or getattr(delta, "reasoning_content", None) or "")
            text += "".join((call.function.name or "") + (call.function.arguments or "")
                            for call in (delta.tool_calls or []) if call.function)
            if text:
                chunks += 1
                pieces.append(text)
                if ttft is None:
                    ttft = (time.perf_counter() - started) * 1000
    except Exception as exc:
        return PromptOutcome(f"{prompt.name} (streamed)", False, error=f"streamed completion failed: {_safe(exc, api_key)}")
    latency = (time.perf_counter() - started) * 1000
    ok = ttft is not None
    return PromptOutcome(f"{prompt.name} (streamed)", ok, "".join(pieces)[:200], chunks, latency, ttft,
                         error=None if ok else "stream produced no content")


def _safe(exc: Exception, secret: str | None) -> str:
    return mask(f"{type(exc).__name__}: {exc}", secret)
