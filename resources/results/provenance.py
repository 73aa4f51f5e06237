"""Facts that identify what produced a result: the project's git revision."""

from __future__ import annotations

import subprocess

from resources.config.eval_home import PROJECT_ROOT


def project_git_sha() -> str:
    """``<sha>`` of the checkout, ``<sha>-dirty`` with uncommitted changes, ``unknown`` outside git."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{sha}-dirty" if dirty else sha
