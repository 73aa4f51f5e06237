"""Does a smoke reply meet its prompt's expectations? Pure functions over one reply.

The reply is what the OpenAI API returned, gathered into one shape for a plain and a streamed
completion alike; each failed expectation comes back as a sentence that says what was expected,
what came instead and, where there is one, the usual cause.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field

from resources.config.smoke import SmokePrompt


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: str


@dataclass
class SmokeReply:
    """One chat completion's answer: its text, reasoning and tool calls, and the server's token count."""

    content: str = ""
    reasoning: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    completion_tokens: int | None = None  # the server's usage, never a count of chunks
    ttft_ms: float | None = None  # streamed replies only

    def summary(self, limit: int = 200) -> str:
        """The reply as a person would read it, cut to ``limit`` characters."""
        parts = []
        if self.reasoning:
            parts.append(f"[reasoning] {self.reasoning}")
        if self.content:
            parts.append(self.content)
        parts += [f"[tool call] {call.name}({call.arguments})" for call in self.tool_calls]
        return cut(" ".join(parts) or "(empty)", limit)


def cut(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def known_share(text: str, scripts: tuple[str, ...]) -> float:
    """The share of ``text``'s non-space characters that are digits or letters of ``scripts``.

    Punctuation and symbols count against it: a quantization gone wrong often repeats one
    symbol ("!!!!!!"), and byte-level noise decodes to replacement characters and mixed scripts."""
    characters = [ch for ch in text if not ch.isspace()]
    if not characters:
        return 0.0
    known = sum(
        1 for ch in characters if ch.isdigit() or (ch.isalpha() and unicodedata.name(ch, "").startswith(scripts))
    )
    return known / len(characters)


def failed_expectations(prompt: SmokePrompt, reply: SmokeReply) -> list[str]:
    """Every expectation of ``prompt`` that ``reply`` misses, as sentences; empty when it meets them all."""
    if not (reply.content or reply.reasoning or reply.tool_calls):
        return ["an answer: the reply has no text, no reasoning and no tool call"]
    failures = []
    if not reply.completion_tokens:
        failures.append("a completion token count in the server's usage: none was sent")
    expect = prompt.expect
    if expect.contains is not None and expect.contains not in reply.content:
        failures.append(f"the answer to contain {expect.contains!r}")
    if expect.matches is not None and not re.search(expect.matches, reply.content):
        failures.append(f"the answer to match the regular expression {expect.matches!r}")
    if expect.max_ttft_ms is not None and reply.ttft_ms is not None and reply.ttft_ms > expect.max_ttft_ms:
        failures.append(f"a time to first token of at most {expect.max_ttft_ms:g} ms: it took {reply.ttft_ms:.0f} ms")
    if expect.min_known_share is not None:
        share = known_share(reply.content, expect.scripts)
        if share < expect.min_known_share:
            failures.append(
                f"at least {expect.min_known_share:.0%} of the answer in letters ({', '.join(expect.scripts)}) or "
                f"digits: {share:.0%} (gibberish: a wrong chat template or broken quantized weights?)"
            )
    if prompt.enable_thinking is True and not reply.reasoning:
        failures.append(
            "reasoning content with enable_thinking on: there is none (is --reasoning-parser set, and "
            "does the chat template honour enable_thinking?)"
        )
    if prompt.enable_thinking is False and reply.reasoning:
        failures.append(
            "no reasoning content with enable_thinking off: the reply has some (the chat template "
            "ignores enable_thinking?)"
        )
    if expect.tool_call is not None:
        failures += _tool_call_failures(prompt, expect.tool_call, reply.tool_calls)
    return failures


def _tool_call_failures(prompt: SmokePrompt, name: str, calls: list[ToolCall]) -> list[str]:
    if not calls:
        return [f"a call to {name}: the reply is text (are --tool-call-parser and --enable-auto-tool-choice set?)"]
    matching = [call for call in calls if call.name == name]
    if not matching:
        return [f"a call to {name}: it called {', '.join(call.name for call in calls)}"]
    failures = []
    for call in matching:
        try:
            arguments = json.loads(call.arguments or "")
        except json.JSONDecodeError as exc:
            failures.append(f"JSON arguments for {name}: {call.arguments!r} does not parse ({exc.msg})")
            continue
        problem = _schema_problem(arguments, prompt.tool_parameters(name))
        if problem:
            failures.append(f"arguments for {name} that fit its parameters: {problem}")
    return failures


def _schema_problem(arguments, schema: dict | None) -> str | None:
    if not isinstance(arguments, dict):
        return f"expected a JSON object, got {type(arguments).__name__}"
    if not schema:
        return None
    import jsonschema

    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(arguments))
    return None if error is None else error.message
