"""Keeps secrets (hub tokens, API keys) out of logs, metadata, results and error messages."""

from __future__ import annotations

MASK = "***"


def mask(text: str, *secrets: str | None) -> str:
    """``text`` with every given secret replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return text
