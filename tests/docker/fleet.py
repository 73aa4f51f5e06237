"""Where tests/docker/start_postgres.sh puts the PostgreSQL server the production instance's tests use."""

from __future__ import annotations

import os
from pathlib import Path

START_SCRIPT = Path(__file__).resolve().parent / "start_postgres.sh"
PG_PORT = int(os.environ.get("EVAL_PG_PORT", "55432"))
# Trust authentication on loopback (see the script): the URL names a user and no password.
ADMIN_URL = f"postgresql://postgres@127.0.0.1:{PG_PORT}/postgres"


def database_url(database: str) -> str:
    """The ``DAGSTER_PG_URL`` of one database on that server, in the scheme dagster-postgres reads."""
    return f"postgresql+psycopg2://postgres@127.0.0.1:{PG_PORT}/{database}"
