"""Places a deployment's weights in a named volume on its engine's host and verifies them there.

The containers are rendered by ``weights_volume`` (pure); this module runs them: it hashes what
the volume holds, streams generated or local weights into it when it is empty, or has the host
download a hub model into it, and compares the hash computed there with the one computed here.
A volume already holding the same content is reused without copying: the usual nightly case.
"""

from __future__ import annotations

import dataclasses
import os
import re
import time
from pathlib import Path
from typing import Callable, Iterable, Iterator

from resources.config.models import Deployment
from resources.config.secrets import mask
from resources.runtime.docker.one_shot import marked_result, removed_afterwards, wait_finished
from resources.runtime.docker.weights_volume import (
    PLACE_DIR,
    code_archive,
    hash_container_kwargs,
    hub_download_kwargs,
    hub_identity,
    mismatch_message,
    volume_labels,
    weights_volume_name,
)
from resources.weights.content_hash import RESULT_MARKER, folder_content_hash
from resources.weights.fetch import Weights, WeightsError, WeightsOnHost, fetch_weights
from resources.weights.tar_stream import tar_stream

Log = Callable[[str], None]
PROGRESS_EVERY_S = 10.0
HASH_TIMEOUT_S = 3600.0
DOWNLOAD_TIMEOUT_S = 6 * 3600.0
# Where the service container reads the weights: the volume is mounted there (spec.weights_mount).
MODEL_PATH = "/model"


def _mib(size: int) -> str:
    return f"{size / 2**20:,.1f} MiB"


def with_progress(
    chunks: Iterable[bytes], total: int, label: str, on_line: Log, every_s: float = PROGRESS_EVERY_S
) -> Iterator[bytes]:
    """Passes ``chunks`` through, saying every ``every_s`` how many bytes went and how long it took."""
    sent, started = 0, time.monotonic()
    last = started
    for chunk in chunks:
        sent += len(chunk)
        yield chunk
        now = time.monotonic()
        if now - last >= every_s:
            on_line(f"{label}: {_mib(sent)} of about {_mib(total)} sent ({now - started:.0f} s)")
            last = now
    seconds = time.monotonic() - started
    on_line(f"{label}: {_mib(sent)} sent in {seconds:.1f} s ({sent / 2**20 / max(seconds, 1e-3):,.1f} MiB/s)")


def failure_line(stderr_lines: list[str]) -> str:
    """The exception a Python traceback ended with (what went wrong, without the stack), else the last lines."""
    errors = [line.strip() for line in stderr_lines if re.match(r"^[\w.]+(Error|Exception)\b", line.strip())]
    return errors[-1] if errors else " | ".join(stderr_lines[-5:])


def ensure_volume(client, name: str, labels: dict[str, str]):
    import docker.errors

    try:
        return client.volumes.get(name)
    except docker.errors.NotFound:
        return client.volumes.create(name, labels=labels)


def run_placing_container(
    client,
    kwargs: dict,
    on_line: Log,
    doing: str,
    uploads=(),
    token: str | None = None,
    timeout_s: float = HASH_TIMEOUT_S,
) -> dict:
    """Creates the container, copies the hashing code (and token, and ``uploads``: (path, tar data))
    into it, runs it to completion and returns the content summary it printed; always removes it."""
    import docker.errors

    try:
        container = client.containers.create(**kwargs)
    except docker.errors.APIError as exc:
        raise WeightsError(
            f"the container for {doing} could not be created from {kwargs['image']}: {exc.explanation or exc}"
        ) from None
    with removed_afterwards(container):
        try:
            container.put_archive("/", code_archive(token))
            for path, data in uploads:
                container.put_archive(path, data)
            container.start()
        except docker.errors.APIError as exc:  # e.g. the host's disk filled up during the copy
            raise WeightsError(mask(f"{doing} failed: {exc.explanation or exc}", token)) from None
        started = last_said = time.monotonic()
        while True:
            container.reload()
            if container.status not in ("created", "running"):
                break
            now = time.monotonic()
            if now - started > timeout_s:
                raise WeightsError(f"{doing} took more than {timeout_s:.0f} s; stopped")
            if now - last_said >= 3 * PROGRESS_EVERY_S:
                on_line(f"{doing}: still running ({now - started:.0f} s)")
                last_said = now
            time.sleep(min(2.0, 0.1 + (now - started) / 10))  # small models are done in a second
        finished = wait_finished(container, timeout_s=60)
        if finished.failed:
            raise WeightsError(
                mask(
                    f"{doing} exited with {finished.status_code}: "
                    f"{failure_line(finished.err_lines) or finished.out[-500:]}",
                    token,
                )
            )
    summary = marked_result(finished.out, RESULT_MARKER)
    if summary is None:
        raise WeightsError(f"{doing} printed no content hash; its output ended: {mask(finished.out[-500:], token)}")
    return summary


def place_on_engine(client, deployment: Deployment, image: str, engine: str, host: str, on_line: Log) -> Weights:
    """The deployment's weights in their volume on the engine's host, verified there."""
    if deployment.model.source == "huggingface":
        return _download_there(client, deployment, image, engine, host, on_line)
    started = time.monotonic()
    local = fetch_weights(deployment.model_name, deployment.model, on_progress=on_line)
    if re.fullmatch(r"sha256:[0-9a-f]{64}", local.revision):  # a folder's content hash
        expected = local.revision.removeprefix("sha256:")
    else:  # identified by what determines its bytes (a shape model): hash them for the comparison
        on_line(f"hashing the weights at {local.path} ({_mib(local.size_bytes)}) to check them on {host}")
        expected = folder_content_hash(local.path)
    volume = weights_volume_name(deployment, local.identity)
    ensure_volume(client, volume, volume_labels(deployment, local.identity))
    where = f"volume {volume} on {host}"
    found = run_placing_container(client, hash_container_kwargs(deployment, image, volume), on_line, f"hashing {where}")
    action = "reused"
    if found["files"] and found["content_hash"] == expected:
        on_line(
            f"{where} already holds sha256:{expected} ({found['files']} files, {_mib(found['bytes'])}), "
            "verified there: reused, nothing copied"
        )
    elif found["files"]:
        raise WeightsError(
            mismatch_message(host, engine, volume, deployment.model_name, local.identity, expected, found)
        )
    else:
        on_line(f"copying {local.path} ({_mib(local.size_bytes)}) into {where}")
        stream = with_progress(tar_stream(Path(local.path)), local.size_bytes, f"copy to {where}", on_line)
        found = run_placing_container(
            client,
            hash_container_kwargs(deployment, image, volume, read_only=False),
            on_line,
            f"copying into {where}",
            uploads=[(PLACE_DIR, stream)],
        )
        if found["content_hash"] != expected:
            raise WeightsError(
                mismatch_message(host, engine, volume, deployment.model_name, local.identity, expected, found)
            )
        on_line(f"{where} holds sha256:{expected}, verified there")
        action = "copied"
    return dataclasses.replace(
        local,
        on_host=WeightsOnHost(
            engine=engine,
            host=host,
            volume=volume,
            content_hash=found["content_hash"],
            size_bytes=found["bytes"],
            files=found["files"],
            action=action,
            seconds=round(time.monotonic() - started, 2),
        ),
    )


def _download_there(client, deployment: Deployment, image: str, engine: str, host: str, on_line: Log) -> Weights:
    from resources.config.models import UNPINNED

    model = deployment.model
    if model.revision == UNPINNED:
        raise WeightsError(
            f"model '{deployment.model_name}': revision is {UNPINNED}; pin the commit in "
            f"configs/models/{deployment.model_name}.yaml before it is downloaded on {host}"
        )
    started = time.monotonic()
    identity = hub_identity(deployment)
    volume = weights_volume_name(deployment, identity)
    ensure_volume(client, volume, volume_labels(deployment, identity))
    token = os.environ.get(model.token_env) if model.token_env else None
    on_line(
        f"downloading {model.repo} at {model.revision} on {host} into volume {volume} "
        f"(token: {'from $' + model.token_env if token else 'none'})"
    )
    try:
        found = run_placing_container(
            client,
            hub_download_kwargs(deployment, image, volume),
            on_line,
            f"downloading {model.repo}@{model.revision} on {host}",
            token=token,
            timeout_s=DOWNLOAD_TIMEOUT_S,
        )
    except WeightsError as exc:
        raise WeightsError(
            f"model '{deployment.model_name}': {exc}. Check that the revision exists, that {host} reaches the hub "
            f"(or a mirror named by HF_ENDPOINT in runtime.env), and that ${model.token_env or 'HF_TOKEN'} is set "
            "for a gated model."
        ) from None
    on_line(
        f"volume {volume} on {host} holds {found['files']} files, {_mib(found['bytes'])}, "
        f"content sha256:{found['content_hash']} (hashed there)"
    )
    return Weights(
        Path(MODEL_PATH),
        model.repo,
        "huggingface",
        model.revision,
        found["bytes"],
        on_host=WeightsOnHost(
            engine=engine,
            host=host,
            volume=volume,
            content_hash=found["content_hash"],
            size_bytes=found["bytes"],
            files=found["files"],
            action="downloaded",
            seconds=round(time.monotonic() - started, 2),
        ),
    )
