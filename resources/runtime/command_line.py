"""Command lines as a user would type them, with every secret masked (pure).

Used wherever a command is shown rather than run: ``python -m pipelines plan``, the
``vllm_service`` metadata, error messages.
"""

from __future__ import annotations

import re
import shlex

from resources.config.docker import is_secret_name

_ENV_REF = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=\$([A-Za-z_][A-Za-z0-9_]*)$")
_SECRET_FLAGS = ("--api-key", "--hf-token")


def mask_argv(argv: list[str]) -> list[str]:
    """Values of secret flags and of secret-named NAME=VALUE pairs become ***; "$NAME" references stay."""
    masked = list(argv)
    for i, arg in enumerate(masked):
        if i and masked[i - 1] in _SECRET_FLAGS:
            masked[i] = "***"
        elif "=" in arg and not _ENV_REF.match(arg):
            key, _, value = arg.partition("=")
            if is_secret_name(key) and value and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", key):
                masked[i] = f"{key}=***"
    return masked


def shell_join(argv: list[str]) -> str:
    """A copy-pasteable command line; ``NAME=$VAR`` stays expandable as ``NAME="$VAR"``."""
    parts = []
    for arg in mask_argv(argv):
        ref = _ENV_REF.match(arg)
        parts.append(f'{ref.group(1)}="${ref.group(2)}"' if ref else shlex.quote(arg))
    return " ".join(parts)
