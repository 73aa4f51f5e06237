"""The smoke test: does the server list the model, answer a chat and stream one, and do the
answers meet their prompt's expectations (``resources.serving.smoke_expectations``)?

Uses the official ``openai`` client against the server's OpenAI-compatible API, as a user's
application would. Failures are recorded as findings, not raised, so the asset check can
report all of them at once. Token counts are the server's ``usage`` (requested for streams too).

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

from resources.config.secrets import mask
from resources.config.smoke import SmokePrompt
from resources.serving.server_metrics import TTFT_HISTOGRAM, HistogramTotals, fetch_metrics, histogram_totals
from resources.serving.smoke_expectations import SmokeReply, ToolCall, cut, failed_expectations


@dataclass
class PromptOutcome:
    name: str
    ok: bool
    content: str = ""
    completion_tokens: int | None = None
    latency_ms: float | None = None
    ttft_ms: float | None = None
    error: str | None = None
    prompt_text: str = ""
    chunks: int | None = None  # streamed chunks with output; not a token count


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
        return (
            self.server_ttft is not None
            and self.streamed_requests > 0
            and round(self.server_ttft.count) == self.streamed_requests
            and self.client_ttft_mean_ms is not None
        )

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
        threading.Thread(target=importlib.import_module, args=("openai",), name="import-openai", daemon=True).start()


def run_smoke(
    base_url: str, served_name: str, prompts: tuple[SmokePrompt, ...], api_key: str | None, timeout_s: float = 60.0
) -> SmokeOutcome:
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
        outcome.problems.append(f"/v1/models lists {outcome.models_listed}, not the served name '{served_name}'")
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
    outcome.problems += [_problem(p) for p in outcome.prompts if not p.ok]
    return outcome


def _problem(prompt: PromptOutcome) -> str:
    """What was asked, what was expected and what came back, for the check's description and the log."""
    if not prompt.content:
        return f"prompt '{prompt.name}': {prompt.error}"
    return f'prompt \'{prompt.name}\' ("{prompt.prompt_text}"): {prompt.error}; reply: "{prompt.content}"'


def ttft_comparison(outcome: SmokeOutcome) -> dict:
    """Client and server TTFT for the same streamed requests, and their difference, as metadata."""
    client, server = outcome.client_ttft_mean_ms, outcome.server_ttft_mean_ms
    if outcome.server_ttft is None:
        note = "server TTFT unavailable: /metrics has no vllm:time_to_first_token_seconds histogram"
    elif not outcome.server_ttft_comparable:
        note = (
            f"server TTFT not comparable: the histogram counted {outcome.server_ttft.count:g} requests "
            f"while the smoke test streamed {outcome.streamed_requests} (other traffic, or a failed stream)"
        )
    else:
        note = (
            f"TTFT over {outcome.streamed_requests} streamed request(s): client {client:.1f} ms, vLLM "
            f"/metrics {server:.1f} ms, difference {outcome.ttft_difference_ms:.1f} ms (HTTP, chat "
            "template, tokenization and streaming, which the server's figure leaves out)"
        )
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
        response = client.chat.completions.create(**_request(served_name, prompt))
    except Exception as exc:
        return PromptOutcome(prompt.name, False, error=f"chat completion failed: {_safe(exc, api_key)}")
    latency = (time.perf_counter() - started) * 1000
    return _judged(prompt.name, prompt, reply_of(response), latency)


def _chat_streamed(client, served_name: str, prompt: SmokePrompt, api_key: str | None) -> PromptOutcome:
    """TTFT as vLLM's benchmark measures it: request sent to first streamed chunk with content."""
    name = f"{prompt.name} (streamed)"
    started = time.perf_counter()
    chunks = []
    ttft = None
    try:
        # include_usage: the last chunk carries the server's token counts (chunks are not tokens).
        for chunk in client.chat.completions.create(
            **_request(served_name, prompt), stream=True, stream_options={"include_usage": True}
        ):
            chunks.append(chunk)
            if ttft is None and _has_output(chunk):
                ttft = (time.perf_counter() - started) * 1000
    except Exception as exc:
        return PromptOutcome(name, False, error=f"streamed completion failed: {_safe(exc, api_key)}")
    latency = (time.perf_counter() - started) * 1000
    reply = reply_of_stream(chunks)
    reply.ttft_ms = ttft
    outcome = _judged(name, prompt, reply, latency)
    outcome.chunks = sum(1 for chunk in chunks if _has_output(chunk))
    return outcome


def _request(served_name: str, prompt: SmokePrompt) -> dict:
    request = {
        "model": served_name,
        "messages": list(prompt.messages),
        "max_tokens": prompt.max_tokens,
        "extra_body": prompt.request_body() or None,
    }
    if prompt.temperature is not None:
        request["temperature"] = prompt.temperature
    if prompt.tools:
        request["tools"] = [dict(tool) for tool in prompt.tools]
    return request


def _judged(name: str, prompt: SmokePrompt, reply: SmokeReply, latency_ms: float) -> PromptOutcome:
    failures = failed_expectations(prompt, reply)
    return PromptOutcome(
        name,
        not failures,
        reply.summary(),
        reply.completion_tokens,
        latency_ms,
        reply.ttft_ms,
        error="; ".join(f"expected {failure}" for failure in failures) or None,
        prompt_text=_prompt_text(prompt),
    )


def _prompt_text(prompt: SmokePrompt) -> str:
    users = [message.get("content", "") for message in prompt.messages if message.get("role") == "user"]
    return cut(users[-1] if users else "", 120)


def _reasoning(message) -> str:
    """vLLM names it ``reasoning`` since 0.11 (``reasoning_content`` before); the client keeps either."""
    return getattr(message, "reasoning", None) or getattr(message, "reasoning_content", None) or ""


def reply_of(response) -> SmokeReply:
    """A plain chat completion (the OpenAI client's object) as a ``SmokeReply``."""
    message = response.choices[0].message if response.choices else None
    usage = response.usage.completion_tokens if response.usage else None
    if message is None:
        return SmokeReply(completion_tokens=usage)
    calls = [
        ToolCall(call.function.name, call.function.arguments or "")
        for call in message.tool_calls or []
        if call.function
    ]
    return SmokeReply(message.content or "", _reasoning(message), calls, usage)


def reply_of_stream(chunks) -> SmokeReply:
    """Streamed chunks as one ``SmokeReply``: text and reasoning joined, tool calls assembled by index
    (the name comes first, the arguments in pieces), the token count from the final usage chunk."""
    reply, calls = SmokeReply(), {}
    for chunk in chunks:
        if chunk.usage is not None:
            reply.completion_tokens = chunk.usage.completion_tokens
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        reply.content += delta.content or ""
        reply.reasoning += _reasoning(delta)
        for call in delta.tool_calls or []:
            name, arguments = calls.get(call.index, ("", ""))
            if call.function:
                name, arguments = name + (call.function.name or ""), arguments + (call.function.arguments or "")
            calls[call.index] = (name, arguments)
    reply.tool_calls = [ToolCall(name, arguments) for _, (name, arguments) in sorted(calls.items())]
    return reply


def _has_output(chunk) -> bool:
    if not chunk.choices:
        return False
    delta = chunk.choices[0].delta
    return bool(delta.content or _reasoning(delta) or delta.tool_calls)


def _safe(exc: Exception, secret: str | None) -> str:
    return mask(f"{type(exc).__name__}: {exc}", secret)
