"""What a smoke prompt sends and what its answer must show.

A smoke test that passes any reply with text in it passes garbled FP8 output too; these
expectations are what make it able to fail. Every one is optional, and each is checked on the
plain and on the streamed reply (see ``resources.serving.smoke_expectations``).
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# Unicode names start with the script for letters: "LATIN SMALL LETTER A", "CJK UNIFIED IDEOGRAPH-4E00",
# "CYRILLIC CAPITAL LETTER A". These are the prefixes a deployment may name in ``scripts``.
SCRIPTS = (
    "LATIN",
    "CJK",
    "CYRILLIC",
    "GREEK",
    "ARABIC",
    "HEBREW",
    "HIRAGANA",
    "KATAKANA",
    "HANGUL",
    "DEVANAGARI",
    "THAI",
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SmokeExpectations(_Strict):
    """Checks on a smoke reply; a reply that misses one fails the blocking check ``server_answers``."""

    contains: str | None = Field(None, min_length=1, description="a substring the answer must contain")
    matches: str | None = Field(
        None, min_length=1, description="a regular expression (Python re) the answer must match somewhere"
    )
    max_ttft_ms: float | None = Field(None, gt=0, description="the streamed reply's time to first token, at most")
    min_known_share: float | None = Field(
        None,
        gt=0,
        le=1,
        description="gibberish guard: the share of the answer's non-space characters that are "
        "letters of the expected scripts or digits, at least",
    )
    scripts: tuple[str, ...] = Field(("LATIN",), min_length=1, description="scripts whose letters count as known")
    tool_call: str | None = Field(
        None,
        min_length=1,
        description="the reply must call this function (one of the prompt's tools) with "
        "JSON arguments valid for its parameters",
    )

    @field_validator("matches")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(
                    f"not a valid regular expression ({exc}): {value!r}; in YAML, quote it with single "
                    "quotes so backslashes stay as written, e.g. '\\b42\\b'"
                ) from None
        return value

    @field_validator("scripts")
    @classmethod
    def _known_scripts(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        upper = tuple(script.upper() for script in value)
        unknown = [script for script in upper if script not in SCRIPTS]
        if unknown:
            raise ValueError(f"unknown script(s) {unknown}; choose from {', '.join(SCRIPTS)}")
        return upper


class SmokePrompt(_Strict):
    name: str
    messages: tuple[dict[str, str], ...] = ({"role": "user", "content": "Say hello."},)
    max_tokens: int = Field(16, gt=0)
    temperature: float | None = Field(None, ge=0, description="sampling temperature; unset: the model's default")
    extra_body: dict | None = Field(None, description="sent as is beside the request, e.g. {top_k: 1}")
    enable_thinking: bool | None = Field(
        None,
        description="sent as chat_template_kwargs.enable_thinking; true requires reasoning content in the "
        "reply, false requires none (checks the reasoning parser and the chat template)",
    )
    tools: tuple[dict, ...] | None = Field(None, description="OpenAI tool definitions offered to the model")
    expect: SmokeExpectations = SmokeExpectations()

    @model_validator(mode="after")
    def _consistent(self) -> "SmokePrompt":
        kwargs = (self.extra_body or {}).get("chat_template_kwargs") or {}
        if self.enable_thinking is not None and "enable_thinking" in kwargs:
            raise ValueError(
                "extra_body.chat_template_kwargs.enable_thinking: set 'enable_thinking' on the prompt "
                "instead (it also checks the reasoning content); remove it from extra_body"
            )
        if self.expect.tool_call is not None:
            if self.expect.tool_call not in self.tool_names:
                raise ValueError(
                    f"expect.tool_call: '{self.expect.tool_call}' is not one of the prompt's tools "
                    f"({', '.join(self.tool_names) or 'none offered'}); add it under 'tools'"
                )
            _check_parameters_schema(self.expect.tool_call, self.tool_parameters(self.expect.tool_call))
        return self

    @property
    def tool_names(self) -> list[str]:
        names = [(tool.get("function") or {}).get("name") for tool in self.tools or ()]
        return [str(name) for name in names if name]

    def tool_parameters(self, name: str) -> dict | None:
        """The JSON schema of the named tool's parameters."""
        for tool in self.tools or ():
            function = tool.get("function") or {}
            if function.get("name") == name:
                return function.get("parameters")
        return None

    def request_body(self) -> dict:
        """``extra_body`` for the OpenAI client: the prompt's own, plus the thinking switch."""
        body = dict(self.extra_body or {})
        if self.enable_thinking is not None:
            body["chat_template_kwargs"] = {
                **(body.get("chat_template_kwargs") or {}),
                "enable_thinking": self.enable_thinking,
            }
        return body


def _check_parameters_schema(name: str, parameters: dict | None) -> None:
    """The tool call's arguments are validated against this schema, so it must be one."""
    if parameters is None:
        return
    import jsonschema

    try:
        jsonschema.Draft202012Validator.check_schema(parameters)
    except jsonschema.SchemaError as exc:
        raise ValueError(f"tools: the parameters of '{name}' are not a valid JSON schema: {exc.message}") from None
