"""A connection to a Docker Engine: the local socket, or a remote one per deployment.

One Dagster instance drives several GPU hosts by naming each host's engine in the deployment
(``runtime.docker.engine: ssh://gpu-node-1``); without one, ``DOCKER_HOST`` or the local socket
is used, as the docker command line does. ``ssh://`` goes through the machine's own ``ssh``
client, so ``~/.ssh/config`` (keys, jump hosts) applies.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULT_SOCKET = "unix:///var/run/docker.sock"
MIN_API_VERSION = "1.24"  # only for the first request, which asks the engine for its own


class EngineUnavailable(RuntimeError):
    """The Docker Engine does not answer; the message names the address and what to check."""


@dataclass(frozen=True)
class EngineAddress:
    url: str
    source: str  # "deployment", "DOCKER_HOST" or "default"

    @property
    def is_local(self) -> bool:
        return self.url.startswith("unix://")


def engine_address(configured: str | None) -> EngineAddress:
    if configured:
        return EngineAddress(configured, "deployment")
    if os.environ.get("DOCKER_HOST"):
        return EngineAddress(os.environ["DOCKER_HOST"], "DOCKER_HOST")
    return EngineAddress(DEFAULT_SOCKET, "default")


def connect(configured: str | None = None, timeout_s: float = 600, tls=None):
    """A docker SDK client for the engine, checked with a ping.

    ``tls``: the deployment's ``runtime.docker.tls`` (CA and client certificate) for a tcp://
    engine: the engine's certificate is verified against the CA and it checks ours."""
    import docker
    import docker.errors
    import docker.tls

    address = engine_address(configured)
    try:
        if tls is None:
            if address.url.startswith("ssh://"):
                _ssh_sockets_close_quietly()
            client = docker.DockerClient(
                base_url=address.url, timeout=int(timeout_s), use_ssh_client=address.url.startswith("ssh://")
            )
        else:
            client = _tls_client(address.url, tls, timeout_s)
        client.ping()
    except (docker.errors.DockerException, OSError) as exc:
        hint = (
            "is dockerd running, and may this user open its socket?"
            if address.is_local
            else "is the host reachable, does `docker -H " + address.url + " info` work from this machine?"
        )
        raise EngineUnavailable(
            f"Docker Engine at {address.url} (from {address.source}) does not answer: "
            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}; {hint}"
        ) from None
    return client


def _ssh_sockets_close_quietly() -> None:
    """docker-py's socket over the ssh binary writes to ssh's stdin when it is closed; after a
    request whose stream the engine ends itself (a non-streamed ``docker exec``), ssh may already
    have exited, and that write raises BrokenPipeError although the request succeeded. Closing an
    ended connection is not an error: its socket class is swapped, once, for one that says so.
    A connection lost during a request still fails that request, where it is read or written."""
    from docker.transport import sshconn

    if getattr(sshconn.SSHSocket, "closes_quietly", False):
        return

    class QuietlyClosingSSHSocket(sshconn.SSHSocket):
        closes_quietly = True

        def close(self):
            try:
                super().close()
            except (BrokenPipeError, ValueError):  # ValueError: its stdin was closed already
                self.proc.terminate()

    sshconn.SSHSocket = QuietlyClosingSSHSocket


def _tls_client(url: str, tls, timeout_s: float):
    """A client that verifies the engine against the config's CA and presents its certificate.

    requests lets REQUESTS_CA_BUNDLE (set on many machines) override a session's CA per request,
    so the engine's private CA would be ignored: the session must not read the environment, which
    is also why the API version is asked only after that is turned off."""
    import docker
    import docker.tls

    config = docker.tls.TLSConfig(client_cert=(tls.client_cert, tls.client_key), ca_cert=tls.ca_cert, verify=True)
    client = docker.DockerClient(base_url=url, timeout=int(timeout_s), tls=config, version=MIN_API_VERSION)
    client.api.trust_env = False
    client.api._version = client.api.version(api_version=False)["ApiVersion"]
    return client


def engine_available(configured: str | None = None, tls=None) -> tuple[bool, str]:
    """(True, version) when the engine answers, else (False, why): for tests that need one."""
    try:
        client = connect(configured, timeout_s=10, tls=tls)
    except EngineUnavailable as exc:
        return False, str(exc)
    try:
        return True, client.version().get("Version", "?")
    finally:
        client.close()


def _lost_connection_errors() -> tuple[type[BaseException], ...]:
    import requests.exceptions
    import urllib3.exceptions

    return (
        requests.exceptions.ConnectionError,
        requests.exceptions.ChunkedEncodingError,
        urllib3.exceptions.ProtocolError,
        ConnectionError,
    )


def engine_must_answer(doing: str):
    """Turns a connection to the engine lost half-way (its dockerd stopped, its host went away) into
    an ``EngineUnavailable`` that names the engine and its GPU host, for a runtime method: the run
    on that host fails with that message, and runs on other hosts are untouched."""
    import functools

    def decorate(method):
        @functools.wraps(method)
        def answered(runtime, *args, **kwargs):
            try:
                return method(runtime, *args, **kwargs)
            except EngineUnavailable:
                raise
            except _lost_connection_errors() as exc:
                url = engine_address(runtime.settings.engine).url
                detail = str(exc).splitlines()[0] if str(exc) else ""
                raise EngineUnavailable(
                    f"the Docker Engine at {url} (GPU host {runtime.gpu_host()}) stopped answering while {doing}: "
                    f"{type(exc).__name__}: {detail}. This run fails; runs on other hosts go on. When the engine "
                    f"answers again, the next run on it replaces the container it left behind."
                ) from exc

        return answered

    return decorate
