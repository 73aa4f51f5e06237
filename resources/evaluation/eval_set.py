"""An evaluation set: short questions with unambiguous answers, one JSON object a line.

Each line is an item: ``id`` (unique, stable: the paired verdict matches items by it), ``question``
(sent as the user's message), ``answer``, optional ``aliases`` (other spellings that count as the
answer) and ``choices`` (the labels the question offers; then the first label the reply names is
its answer), and a ``category``. The sets live under ``configs/evals/`` and ship with the project:
nothing is downloaded at run time. The set's sha256 is recorded with every score, so only runs on
the same items are ever compared.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class EvalSetError(ValueError):
    """The set's file is unreadable or an item is malformed; the message names the file, line and field."""


class EvalItem(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    question: str = Field(min_length=1)
    answer: str = Field(min_length=1)
    aliases: tuple[str, ...] = ()
    choices: tuple[str, ...] | None = Field(None, min_length=2)
    category: str = "general"

    @model_validator(mode="after")
    def _answer_among_choices(self) -> "EvalItem":
        if self.choices is not None and not {self.answer, *self.aliases} & set(self.choices):
            raise ValueError(
                f"the answer '{self.answer}' (or one of its aliases) must be one of the choices {list(self.choices)}"
            )
        return self


@dataclass(frozen=True)
class EvalSet:
    name: str
    path: Path
    sha256: str
    items: tuple[EvalItem, ...]


def eval_sets_dir(config_root: Path) -> Path:
    return Path(config_root) / "evals"


def load_eval_set(name: str, config_root: Path) -> EvalSet:
    path = eval_sets_dir(config_root) / f"{name}.jsonl"
    try:
        raw = path.read_bytes()
    except OSError as exc:
        known = sorted(p.stem for p in eval_sets_dir(config_root).glob("*.jsonl"))
        raise EvalSetError(
            f"{path}: cannot read the evaluation set '{name}' ({exc.strerror}); "
            f"known sets: {', '.join(known) or 'none'}"
        ) from None
    items, seen = [], {}
    for number, line in enumerate(raw.decode("utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = EvalItem.model_validate(json.loads(line))
        except json.JSONDecodeError as exc:
            raise EvalSetError(f"{path}, line {number}: not JSON ({exc.msg}); each line is one item") from None
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "item"
            raise EvalSetError(f"{path}, line {number}, field '{field}': {first['msg']}") from None
        if item.id in seen:
            raise EvalSetError(
                f"{path}, line {number}, field 'id': '{item.id}' is already the id of line "
                f"{seen[item.id]}; ids must be unique (the verdict pairs items by id)"
            )
        seen[item.id] = number
        items.append(item)
    if not items:
        raise EvalSetError(f"{path}: no items; write one JSON object a line with id, question and answer")
    return EvalSet(name, path, hashlib.sha256(raw).hexdigest(), tuple(items))
