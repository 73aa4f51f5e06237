"""Sends an evaluation set through the server's OpenAI API at temperature 0 and scores each reply.

Greedy decoding makes a reply a function of the deployment (weights, chat template, dtype, vLLM's
numerics), so the same items on an unchanged deployment give the same answers, and a change shows
as answers that changed. Requests go a few at a time, like a user's application would send them.
A request that fails is recorded with its error: such a run is not a measurement of accuracy.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

from resources.config.secrets import mask
from resources.evaluation.eval_set import EvalItem, EvalSet
from resources.evaluation.scoring import score_reply


@dataclass(frozen=True)
class ItemResult:
    item_id: str
    category: str
    correct: bool
    extracted: str | None
    text: str  # the greedy reply, as the server returned it
    completion_tokens: int | None
    error: str | None = None


@dataclass(frozen=True)
class EvalOutcome:
    items: tuple[ItemResult, ...]
    seconds: float

    @property
    def errors(self) -> int:
        return sum(1 for item in self.items if item.error)

    @property
    def correct(self) -> int:
        return sum(1 for item in self.items if item.correct)


def run_eval_set(
    base_url: str,
    served_model_name: str,
    eval_set: EvalSet,
    max_tokens: int,
    concurrency: int,
    api_key: str | None = None,
    on_progress: Callable[[str], None] = lambda line: None,
    timeout_s: float = 120.0,
) -> EvalOutcome:
    from openai import OpenAI

    client = OpenAI(
        base_url=base_url.rstrip("/") + "/v1", api_key=api_key or "not-needed", timeout=timeout_s, max_retries=0
    )
    started = time.monotonic()
    total = len(eval_set.items)

    def ask(item: EvalItem) -> ItemResult:
        try:
            response = client.chat.completions.create(
                model=served_model_name,
                messages=[{"role": "user", "content": item.question}],
                temperature=0,
                max_tokens=max_tokens,
            )
        except Exception as exc:  # recorded per item: the run is then not an accuracy measurement
            return ItemResult(
                item.id, item.category, False, None, "", None, mask(f"{type(exc).__name__}: {exc}", api_key)[:300]
            )
        text = response.choices[0].message.content or ""
        score = score_reply(item, text)
        tokens = response.usage.completion_tokens if response.usage else None
        return ItemResult(item.id, item.category, score.correct, score.extracted, text, tokens)

    results, last_said = [], started
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for result in pool.map(ask, eval_set.items):
            results.append(result)
            now = time.monotonic()
            if now - last_said >= 10 or len(results) == total:
                on_progress(
                    f"{len(results)}/{total} items answered, {sum(r.correct for r in results)} right "
                    f"({now - started:.0f} s)"
                )
                last_said = now
    return EvalOutcome(tuple(results), time.monotonic() - started)
