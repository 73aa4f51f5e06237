"""The Dagster UI in a real browser: the session's instance with real materializations,
``dagster-webserver`` on loopback over it, and Debian's Chromium driven by Python Playwright.

Playwright's own browser downloads are never used (no download is reachable from CI): the
browser is the system's ``chromium``. Under CI a missing browser fails the tests; elsewhere
they are skipped with the reason (tests/prerequisites.py).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
from pathlib import Path

import pytest
from ui_support import PARTITION, graphql

from tests.prerequisites import missing

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
# Chromium in a container with no GPU, no sandbox privileges and nothing outside to talk to.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
WEBSERVER_READY_S = 240  # loading the code location imports vLLM-adjacent modules on a busy machine


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    path = os.environ.get("EVAL_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path or not os.access(path, os.X_OK):
        missing(f"no chromium at {path or 'any path on PATH'} (Debian: apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing("the playwright Python package is not installed (pip install -e '.[test]')")
    return path


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def _materialized_partitions(instance, asset: str) -> set[str]:
    from dagster import AssetKey

    return set(instance.get_materialized_partitions(AssetKey(asset)))


def _latest_timestamp(instance, asset: str) -> float:
    from dagster import AssetKey

    event = instance.get_latest_materialization_event(AssetKey(asset))
    return event.timestamp if event else 0.0


@pytest.fixture(scope="module")
def ui_instance(chromium_executable):
    """The session's instance, holding a real run of the chain for PARTITION and a report over it.

    After the end-to-end tests it already does; run alone, this runs the chain itself.
    """
    from dagster import DagsterInstance

    from pipelines.definitions import defs
    from pipelines.instance import ensure_dagster_home

    ensure_dagster_home()
    instance = DagsterInstance.get()
    if PARTITION not in _materialized_partitions(instance, "benchmark_results"):
        result = defs.resolve_job_def("deploy_and_evaluate").execute_in_process(
            partition_key=PARTITION, instance=instance, raise_on_error=False
        )
        assert result.success, f"the chain failed for {PARTITION}; see the Dagster log above"
    if _latest_timestamp(instance, "comparison_report") < _latest_timestamp(instance, "benchmark_results"):
        result = defs.resolve_job_def("refresh_comparison_report").execute_in_process(instance=instance)
        assert result.success
    return instance


def _free_port() -> int:
    wanted = os.environ.get("EVAL_UI_TEST_PORT")
    if wanted:
        return int(wanted)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


ASSET_KEYS_QUERY = "{ assetNodes { assetKey { path } } }"


@pytest.fixture(scope="module")
def webserver(ui_instance, artifacts_dir):
    """``dagster-webserver`` over the session's instance on a loopback port; yields its URL.

    Ready once /graphql lists the assets (the code location has loaded). Always stopped.
    """
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    log_path = artifacts_dir / "ui-dagster-webserver.log"
    command = [
        str(Path(sys.executable).with_name("dagster-webserver")),
        "-w",
        "workspace.yaml",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
    ]
    env = {key: os.environ[key] for key in ("DAGSTER_HOME", "EVAL_HOME", "EVAL_CONFIG_DIR")}
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + WEBSERVER_READY_S
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"dagster-webserver exited with code {process.returncode}:\n"
                    + log_path.read_text(errors="replace")[-3000:]
                )
            try:
                if graphql(base_url, ASSET_KEYS_QUERY, timeout=5)["assetNodes"]:
                    break
            except (urllib.error.URLError, OSError, RuntimeError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"dagster-webserver not ready after {WEBSERVER_READY_S} s:\n"
                    + log_path.read_text(errors="replace")[-3000:]
                )
            time.sleep(1)
        yield base_url
    finally:
        # Its process group: the webserver and the code server it spawned.
        _signal_group(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            _signal_group(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="module")
def browser(chromium_executable):
    from playwright.sync_api import expect, sync_playwright

    # Pages render in seconds, but this machine is shared with vLLM servers and benchmarks.
    expect.set_options(timeout=60_000)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    report = (yield).get_result()
    if report.when == "call" and report.failed:
        item.ui_test_failed = True


@pytest.fixture
def page(browser, webserver, artifacts_dir, request):
    """A fresh browser context per test; a failed test leaves a screenshot of where it stopped."""
    context = browser.new_context(base_url=webserver, viewport={"width": 1600, "height": 1000})
    context.set_default_timeout(60_000)
    context.set_default_navigation_timeout(90_000)
    page = context.new_page()
    try:
        yield page
    finally:
        if getattr(request.node, "ui_test_failed", False):
            page.screenshot(path=str(artifacts_dir / f"ui-failed-{request.node.name}.png"))
        context.close()
