"""What the UI tests share with their fixtures (a module of its own: test folders here are not
packages, so ``conftest`` is not importable by name)."""

from __future__ import annotations

import json
import urllib.request

PARTITION = "tiny-cpu-eager"


def graphql(base_url: str, query: str, variables: dict | None = None, timeout: float = 30.0) -> dict:
    """One query against the webserver's /graphql; raises on transport or GraphQL errors."""
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(f"{base_url}/graphql", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        payload = json.load(response)
    if payload.get("errors"):
        raise RuntimeError(f"GraphQL errors: {payload['errors']}")
    return payload["data"]
