"""What a test needs from the machine, and what happens when it is not there.

A Docker Engine, the locally made base image, PostgreSQL, chromium, root: CI provides each of
them (.ci/run starts or installs it), so under CI a missing one FAILS the test that needs it;
a green run never hides tests that did not run. Elsewhere the test is skipped and says what is
missing and how to get it.

CI is on when the environment variable ``CI`` is 1, true or yes, in any case (what CI services
set); anything else, or none, is a machine of one's own.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

CI_TRUE = ("1", "true", "yes")


def under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in CI_TRUE


def missing(reason: str) -> NoReturn:
    """Fails the test under CI, skips it elsewhere; ``reason`` says what is missing and the fix."""
    if under_ci():
        pytest.fail(f"CI must provide this: {reason}", pytrace=False)
    pytest.skip(reason)


def require(available: bool, reason: str) -> None:
    if not available:
        missing(reason)
