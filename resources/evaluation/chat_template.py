"""Which chat template a deployment's server applies, as a short hash (pure but for file reads).

A wrong chat template is the usual cause of a model that "talks nonsense", so the accuracy verdict
names it as a suspect when it changed. The template in force is the one passed with
``--chat-template`` (a file or the template itself), else the model's own: ``chat_template.jinja``
or ``tokenizer_config.json``'s ``chat_template`` in the weights folder.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path


def chat_template_text(weights_path: Path | str, serve_args: tuple[str, ...] | list[str]) -> str | None:
    args = list(serve_args)
    for index, arg in enumerate(args):
        value = None
        if arg == "--chat-template" and index + 1 < len(args):
            value = args[index + 1]
        elif arg.startswith("--chat-template="):
            value = arg.split("=", 1)[1]
        if value is not None:
            candidate = Path(value).expanduser()
            try:
                return candidate.read_text() if candidate.is_file() else value
            except (OSError, ValueError):
                return value
    folder = Path(weights_path)
    try:
        return (folder / "chat_template.jinja").read_text()
    except OSError:
        pass
    try:
        template = json.loads((folder / "tokenizer_config.json").read_text()).get("chat_template")
    except (OSError, ValueError):
        return None
    return template if isinstance(template, str) else json.dumps(template, sort_keys=True) if template else None


def chat_template_sha(weights_path: Path | str, serve_args: tuple[str, ...] | list[str]) -> str | None:
    text = chat_template_text(weights_path, serve_args)
    return None if text is None else hashlib.sha256(text.encode()).hexdigest()[:16]
