"""Reading a small model's greedy reply as an answer, and refusing a malformed evaluation set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from resources.evaluation.eval_set import EvalItem, EvalSetError, load_eval_set
from resources.evaluation.scoring import score_reply

PROJECT_CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def item(**fields) -> EvalItem:
    return EvalItem(**{"id": "x", "question": "q", **fields})


def test_a_sentence_that_names_the_answer_is_right_and_one_that_names_another_is_wrong():
    capital = item(answer="Paris")
    assert score_reply(capital, "The capital of France is Paris.").correct
    assert not score_reply(capital, "The capital of France is Lyon.").correct
    assert not score_reply(capital, "Parisian food is famous.").correct  # a whole word, not a prefix


def test_aliases_and_accents_count_as_the_answer():
    assert score_reply(item(answer="Bogota"), "It is Bogotá.").correct
    assert score_reply(item(answer="7", aliases=["seven"]), "Three plus four is seven.").correct
    assert score_reply(item(answer="7"), "3 + 4 = 7").correct
    assert not score_reply(item(answer="7"), "3 + 4 = 17").correct


def test_with_choices_the_first_one_named_is_the_answer():
    review = item(answer="negative", choices=["positive", "negative"])
    assert score_reply(review, "Negative. Nothing positive about it.").extracted == "negative"
    assert not score_reply(review, "It is positive, not negative.").correct
    assert not score_reply(item(answer="yes", choices=["yes", "no"]), "No, the sun is not a star.").correct
    assert score_reply(item(answer="12", choices=["12", "7"]), "12 is a larger number than 7.").correct
    assert score_reply(review, "I cannot tell.") == score_reply(review, "")


def test_the_shipped_set_loads_with_a_few_hundred_items_of_unique_ids():
    shipped = load_eval_set("everyday-facts", PROJECT_CONFIGS)
    assert 250 <= len(shipped.items) <= 400
    assert len({i.id for i in shipped.items}) == len(shipped.items)
    assert len({i.category for i in shipped.items}) >= 8


@pytest.mark.parametrize(
    "lines, expected",
    [
        (
            ['{"id": "a", "question": "q", "answer": "x"}', '{"id": "a", "question": "r", "answer": "y"}'],
            "line 2, field 'id': 'a' is already the id of line 1",
        ),
        (['{"id": "a", "question": "q"}'], "line 1, field 'answer': Field required"),
        (
            [
                '{"id": "a", "question": "q", "answer": "x"',
            ],
            "line 1: not JSON",
        ),
        (
            ['{"id": "a", "question": "q", "answer": "maybe", "choices": ["yes", "no"]}'],
            "line 1, field 'item': Value error, the answer 'maybe' (or one of its aliases) must be one of the choices",
        ),
    ],
)
def test_a_malformed_set_is_refused_naming_the_file_the_line_and_the_field(tmp_path, lines, expected):
    (tmp_path / "evals").mkdir()
    (tmp_path / "evals" / "broken.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(EvalSetError) as raised:
        load_eval_set("broken", tmp_path)
    assert str(tmp_path / "evals" / "broken.jsonl") in str(raised.value) and expected in str(raised.value)


def test_an_unknown_set_names_the_known_ones(tmp_path):
    (tmp_path / "evals").mkdir()
    (tmp_path / "evals" / "mine.jsonl").write_text(json.dumps({"id": "a", "question": "q", "answer": "x"}) + "\n")
    with pytest.raises(EvalSetError, match="cannot read the evaluation set 'theirs'.*known sets: mine"):
        load_eval_set("theirs", tmp_path)
