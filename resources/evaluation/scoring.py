"""Is a greedy reply right? (pure)

A small instruct model rarely answers in exactly one word ("The capital of France is Paris."), so a
reply is right when it names the answer as a whole word, case-insensitive: the answer or one of
its aliases appears in it. When the item offers choices (positive/negative, yes/no, two numbers), a
reply that names several is judged by the first one it names, so "no, not positive" is no and a
reply listing every option is not counted right by luck of containing the answer.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from resources.evaluation.eval_set import EvalItem


@dataclass(frozen=True)
class Score:
    correct: bool
    extracted: str | None  # what the reply was read as answering; None when it named nothing known


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _first_position(text: str, phrase: str) -> int | None:
    found = re.search(rf"(?<![\w]){re.escape(_fold(phrase))}(?![\w])", text)
    return found.start() if found else None


def score_reply(item: EvalItem, reply: str) -> Score:
    text = _fold(reply)
    right = (item.answer, *item.aliases)
    if item.choices is None:
        hits = [phrase for phrase in right if _first_position(text, phrase) is not None]
        return Score(bool(hits), hits[0] if hits else None)
    candidates = dict.fromkeys((*item.choices, *right))
    positions = [
        (pos, -len(phrase), phrase) for phrase in candidates if (pos := _first_position(text, phrase)) is not None
    ]
    if not positions:
        return Score(False, None)
    _, _, first = min(positions)  # the earliest; at one place the longest ("twelve" over "twelv")
    return Score(first in right, first)
