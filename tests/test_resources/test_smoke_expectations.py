"""Smoke prompts whose expectations can fail: the answer, thinking on and off, tool calls, gibberish.

The smoke client talks to a small HTTP server that replays recorded OpenAI-format replies, through
the real ``openai`` client, plain and streamed. Each recording under ``tests/fixtures/smoke_replies``
says where it comes from (its ``source`` field; ``record_replies.py`` there made them): the tiny
model's from the real vLLM CPU server; the GLM-5 shapes (reasoning, tool calls), which the tiny
model cannot produce, from vLLM's own reasoning and tool-call parser classes and response classes.
"""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from resources.config.loader import ConfigError, load_deployments
from resources.config.smoke import SmokePrompt
from resources.serving.smoke_client import run_smoke
from resources.serving.smoke_expectations import known_share
from tests.test_resources.config_tree import write_config_tree

REPLIES = Path(__file__).resolve().parents[1] / "fixtures" / "smoke_replies"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "City name"}},
            "required": ["city"],
        },
    },
}


def _recording(name: str) -> dict:
    return json.loads((REPLIES / f"{name}.json").read_text())


@contextmanager
def _replaying(name: str):
    """An OpenAI-compatible endpoint that answers every chat request with the recording ``name``;
    yields its base URL and the request bodies it received."""
    recording, received = _recording(name), []
    model = recording["plain"]["model"]

    class Replay(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            if self.path != "/v1/models":
                self.send_error(404)
                return
            self._send("application/json", json.dumps({"object": "list", "data": [{"id": model, "object": "model"}]}))

        def do_POST(self):  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            received.append(body)
            if body.get("stream"):
                events = "".join(f"data: {json.dumps(chunk)}\n\n" for chunk in recording["stream"])
                self._send("text/event-stream", events + "data: [DONE]\n\n")
            else:
                self._send("application/json", json.dumps(recording["plain"]))

        def _send(self, content_type: str, text: str):
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(text.encode())))
            self.end_headers()
            self.wfile.write(text.encode())

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Replay)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", received
    finally:
        server.shutdown()
        server.server_close()


def _smoke(recording: str, **prompt):
    request = _recording(recording)["request"]
    prompt.setdefault("messages", tuple(request["messages"]))
    with _replaying(recording) as (url, received):
        outcome = run_smoke(url, request["model"], (SmokePrompt(name="p", **prompt),), api_key=None, timeout_s=10)
    return outcome, received


def test_the_tiny_models_noise_fails_an_arithmetic_check_showing_prompt_reply_and_expectation():
    outcome, _ = _smoke("tiny_arithmetic", expect={"contains": "42"})
    assert not outcome.passed and len(outcome.problems) == 2, "the plain and the streamed reply both fail"
    plain = outcome.problems[0]
    assert plain.startswith("prompt 'p' (\"What is 17 + 25? Answer with the number only.\")")
    assert "expected the answer to contain '42'" in plain
    assert 'reply: "meatencyatency' in plain


def test_a_regular_expression_is_searched_in_the_answer():
    assert _smoke("glm5_thinking_on", enable_thinking=True, expect={"matches": r"^\s*42\s*$"})[0].passed
    outcome, _ = _smoke("tiny_arithmetic", expect={"matches": r"\b42\b"})
    assert (
        not outcome.passed
        and "expected the answer to match the regular expression '\\\\b42\\\\b'" in outcome.problems[0]
    )


def test_streamed_token_counts_are_the_servers_usage_not_the_number_of_chunks():
    outcome, received = _smoke("tiny_arithmetic")
    assert outcome.passed
    assert received[1]["stream"] and received[1]["stream_options"] == {"include_usage": True}
    usage = _recording("tiny_arithmetic")["stream"][-1]["usage"]["completion_tokens"]
    plain, streamed = outcome.prompts
    assert plain.completion_tokens == streamed.completion_tokens == usage == 16
    # vLLM's tool parser holds tokens back until a piece of the call is complete: 22 tokens, 6 chunks.
    outcome, _ = _smoke("glm5_tool_call", tools=(WEATHER_TOOL,))
    assert outcome.prompts[1].completion_tokens == 22 and outcome.prompts[1].chunks == 6


def test_a_stream_without_usage_fails_rather_than_counting_chunks(tmp_path, monkeypatch):
    recording = _recording("tiny_arithmetic")
    recording["stream"] = [chunk for chunk in recording["stream"] if chunk["choices"]]
    (tmp_path / "no_usage.json").write_text(json.dumps(recording))
    monkeypatch.setattr(__import__(__name__), "REPLIES", tmp_path)
    outcome, _ = _smoke("no_usage")
    assert [p.ok for p in outcome.prompts] == [True, False]
    assert "expected a completion token count in the server's usage" in outcome.problems[0]


def test_thinking_on_sends_the_switch_and_requires_reasoning_content():
    outcome, received = _smoke("glm5_thinking_on", enable_thinking=True, expect={"contains": "42"})
    assert outcome.passed, outcome.problems
    assert all(body["chat_template_kwargs"] == {"enable_thinking": True} for body in received)
    assert outcome.prompts[1].content.startswith("[reasoning] 17 + 25: 17 + 20 = 37")


def test_thinking_on_without_reasoning_content_fails_and_names_the_reasoning_parser():
    outcome, _ = _smoke("glm5_no_reasoning_parser", enable_thinking=True, expect={"contains": "42"})
    assert not outcome.passed and len(outcome.problems) == 2
    assert (
        "expected reasoning content with enable_thinking on: there is none (is --reasoning-parser set"
        in (outcome.problems[0])
    )


def test_thinking_off_requires_no_reasoning_content():
    outcome, received = _smoke("glm5_thinking_off", enable_thinking=False)
    assert outcome.passed and received[0]["chat_template_kwargs"] == {"enable_thinking": False}
    outcome, _ = _smoke("glm5_thinking_off_ignored", enable_thinking=False)
    assert not outcome.passed
    assert "expected no reasoning content with enable_thinking off: the reply has some" in outcome.problems[0]
    assert "[reasoning] The user wants a greeting. Hello" in outcome.problems[0]


def test_a_tool_call_with_valid_arguments_passes_plain_and_streamed():
    outcome, received = _smoke("glm5_tool_call", tools=(WEATHER_TOOL,), expect={"tool_call": "get_weather"})
    assert outcome.passed, outcome.problems
    assert received[0]["tools"] == [WEATHER_TOOL]
    assert [p.content for p in outcome.prompts] == ['[tool call] get_weather({"city": "Paris"})'] * 2


def test_prose_where_a_tool_call_was_required_fails_with_a_hint():
    outcome, _ = _smoke("glm5_prose_not_tool_call", tools=(WEATHER_TOOL,), expect={"tool_call": "get_weather"})
    assert not outcome.passed
    assert "expected a call to get_weather: the reply is text (are --tool-call-parser" in outcome.problems[0]


def test_tool_call_arguments_must_fit_the_functions_parameters():
    outcome, _ = _smoke("glm5_tool_call_without_city", tools=(WEATHER_TOOL,), expect={"tool_call": "get_weather"})
    assert not outcome.passed and len(outcome.problems) == 2
    assert (
        "expected arguments for get_weather that fit its parameters: 'city' is a required property"
        in (outcome.problems[0])
    )


def test_a_time_to_first_token_above_the_limit_fails_the_streamed_reply():
    outcome, _ = _smoke("glm5_thinking_off", expect={"max_ttft_ms": 0.001})
    assert [p.ok for p in outcome.prompts] == [True, False]
    assert "expected a time to first token of at most 0.001 ms: it took" in outcome.problems[0]


def test_the_gibberish_guard_counts_letters_of_the_expected_scripts_and_digits():
    assert known_share("Hello, world! 42", ("LATIN",)) == pytest.approx(12 / 14)
    assert known_share("!!!!!!!!!!!!", ("LATIN",)) == 0.0  # a broken FP8 checkpoint's favourite answer
    assert known_share("Привет мир hello", ("LATIN",)) == pytest.approx(5 / 14)
    assert known_share("你好 hello", ("LATIN", "CJK")) == 1.0
    outcome, _ = _smoke("glm5_no_reasoning_parser", expect={"min_known_share": 0.9})
    assert not outcome.passed
    assert "expected at least 90% of the answer in letters (LATIN) or digits: 68% (gibberish" in outcome.problems[0]


@pytest.mark.parametrize(
    "expect, extra, message",
    [
        (
            {"matches": "(42"},
            {},
            "smoke.0.expect.matches: not a valid regular expression (missing ), unterminated "
            "subpattern at position 0): '(42'",
        ),
        (
            {"tool_call": "get_time"},
            {"tools": [WEATHER_TOOL]},
            "smoke.0: expect.tool_call: 'get_time' is not one of the prompt's tools (get_weather)",
        ),
        (
            {"tool_call": "get_weather"},
            {"tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "objekt"}}}]},
            "smoke.0: tools: the parameters of 'get_weather' are not a valid JSON schema: 'objekt' is not valid",
        ),
        ({"min_known_share": 1.5}, {}, "smoke.0.expect.min_known_share: Input should be less than or equal to 1"),
        ({"scripts": ["klingon"]}, {}, "smoke.0.expect.scripts: unknown script(s) ['KLINGON']"),
        (
            {},
            {"enable_thinking": True, "extra_body": {"chat_template_kwargs": {"enable_thinking": False}}},
            "smoke.0: extra_body.chat_template_kwargs.enable_thinking: set 'enable_thinking' on the prompt",
        ),
    ],
)
def test_a_bad_expectation_is_a_config_error_naming_the_file_and_field(tmp_path, expect, extra, message):
    write_config_tree(
        tmp_path,
        {
            "model": "tiny",
            "params": "cpu",
            "served_model_name": "x",
            "runtime": {"device": "cpu"},
            "smoke": [{"name": "arithmetic", "expect": expect, **extra}],
            "benchmarks": [{"name": "s", "input_len": 1, "output_len": 1, "num_prompts": 1}],
        },
        params={"kv_cache_memory_bytes": "512M"},
    )
    with pytest.raises(ConfigError) as error:
        load_deployments(tmp_path)
    assert str(tmp_path / "deployments" / "d.yaml") in str(error.value) and message in str(error.value)
