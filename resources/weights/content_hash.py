"""The content hash of a weights folder: sha256 over every file's relative path and bytes, sorted.

It identifies generated and local weights, and proves that weights placed on a serving host are
the bytes that were meant. This module imports only the standard library because it also runs
on that host, inside a short-lived container of the deployment's image
(``python -m resources.weights.content_hash FOLDER`` prints one JSON line), so the hash there is
computed by the same code as here.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

RESULT_MARKER = "VLLM_EVAL_CONTENT_HASH "


def _files(folder: Path, skip: tuple[str, ...]):
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.relative_to(folder).parts[0] not in skip)


def folder_content_hash(folder: Path, skip: tuple[str, ...] = ()) -> str:
    """sha256 over every file's relative path and bytes, in sorted order. ``skip``: top-level
    names left out (a downloader's own bookkeeping, such as ``.cache``)."""
    return content_summary(folder, skip)["content_hash"]


def content_summary(folder: Path, skip: tuple[str, ...] = ()) -> dict:
    """The hash, with the file count and total bytes it covers."""
    digest, size, count = hashlib.sha256(), 0, 0
    for file in _files(folder, skip):
        digest.update(file.relative_to(folder).as_posix().encode() + b"\0")
        with file.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
                size += len(chunk)
        digest.update(b"\0")
        count += 1
    return {"content_hash": digest.hexdigest(), "files": count, "bytes": size}


def main(argv: list[str]) -> int:
    folder, skip = Path(argv[0]), tuple(argv[1:])
    print(RESULT_MARKER + json.dumps(content_summary(folder, skip)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
