"""A folder as a tar stream, produced piece by piece (pure).

Weights placed on a remote host are streamed into a container there (``put_archive``), and a
checkpoint can be tens of GB: the archive is generated one header and one 1 MiB block at a time,
never held whole in memory and never written to a temporary file. Linked files are sent as the
files they point to (a Hugging Face snapshot is a folder of links into ``blobs/``).
"""

from __future__ import annotations

import tarfile
from pathlib import Path
from typing import Iterator

BLOCK = 512
CHUNK = 1 << 20


def _header(name: str, size: int, mode: int, mtime: float, kind: bytes) -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime, info.type = size, mode, int(mtime), kind
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def tar_stream(folder: Path, chunk: int = CHUNK) -> Iterator[bytes]:
    """The files under ``folder`` (parents before children) as a tar archive, names relative to it."""
    for path in sorted(folder.rglob("*")):
        name = path.relative_to(folder).as_posix()
        stat = path.stat()  # follows links: the bytes a reader of the folder sees
        if path.is_dir():
            yield _header(name, 0, 0o755, stat.st_mtime, tarfile.DIRTYPE)
            continue
        if not path.is_file():
            continue
        yield _header(name, stat.st_size, 0o644, stat.st_mtime, tarfile.REGTYPE)
        sent = 0
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(chunk), b""):
                sent += len(block)
                yield block
        if sent != stat.st_size:
            raise OSError(f"{path} changed size while it was sent ({stat.st_size} bytes, then {sent})")
        if sent % BLOCK:
            yield b"\0" * (BLOCK - sent % BLOCK)
    yield b"\0" * (2 * BLOCK)
