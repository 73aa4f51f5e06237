"""A smoke prompt can offer tools and require a tool call (GLM-5's tool-call parser), checked on
stand-in replies shaped like the OpenAI client's objects."""

from __future__ import annotations

from types import SimpleNamespace as NS

from resources.config.models import SmokePrompt
from resources.serving.smoke_client import _chat

TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}


class _Client:
    def __init__(self, message):
        self.sent = {}
        self.chat = NS(completions=NS(create=self._create))
        self.message = message

    def _create(self, **kwargs):
        self.sent = kwargs
        return NS(choices=[NS(message=self.message)], usage=NS(completion_tokens=12))


def _prompt(**extra) -> SmokePrompt:
    return SmokePrompt(name="tool-call", messages=({"role": "user", "content": "Weather in Paris?"},),
                       tools=(TOOL,), **extra)


def test_a_tool_call_counts_as_an_answer_and_the_tools_are_offered():
    call = NS(function=NS(name="get_weather", arguments='{"city": "Paris"}'))
    client = _Client(NS(content=None, tool_calls=[call], reasoning=None))
    outcome = _chat(client, "glm5", _prompt(expect_tool_call=True), None)
    assert outcome.ok and outcome.content == "tool call: get_weather"
    assert client.sent["tools"] == [TOOL]


def test_prose_where_a_tool_call_was_required_fails_with_a_hint():
    client = _Client(NS(content="It is sunny in Paris.", tool_calls=None, reasoning=None))
    outcome = _chat(client, "glm5", _prompt(expect_tool_call=True), None)
    assert not outcome.ok and "tool-call parser" in outcome.error


def test_a_prompt_without_tools_sends_none():
    client = _Client(NS(content="hello", tool_calls=None, reasoning=None))
    assert _chat(client, "tiny", SmokePrompt(name="hello"), None).ok and "tools" not in client.sent
