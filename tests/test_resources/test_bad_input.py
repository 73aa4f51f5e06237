"""Bad input a user can give the running pipeline, each met with an error that says what to fix."""

import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from resources.config.loader import ConfigError, load_deployments
from resources.config.smoke import SmokePrompt
from resources.runtime.process import ServiceStartError, start_service
from resources.serving.smoke_client import run_smoke
from resources.serving.startup_log import read_startup_log
from tests.test_resources.config_tree import write_config_tree

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "vllm"


def test_a_port_already_in_use_is_refused_before_vllm_starts_and_names_the_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("EVAL_HOME", str(tmp_path))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ServiceStartError) as error:
            start_service("busy", ["/model"], "127.0.0.1", port, "hash", {}, timeout_s=5)
    assert f"port {port}" in str(error.value) and "runtime.port" in str(error.value)
    assert not (tmp_path / "services" / "busy" / "state.json").exists()


class _Garbage(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's naming
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"<html>this is not an OpenAI API</html>")

    do_POST = do_GET

    def log_message(self, *args):
        pass


def test_an_endpoint_that_answers_garbage_fails_the_smoke_test_with_what_it_got():
    server = HTTPServer(("127.0.0.1", 0), _Garbage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        outcome = run_smoke(
            f"http://127.0.0.1:{server.server_port}", "tiny", (SmokePrompt(name="hello"),), api_key=None, timeout_s=5
        )
    finally:
        server.shutdown()
    assert not outcome.passed
    assert outcome.problems and "/v1/models" in outcome.problems[0]


def test_an_unknown_vllm_argument_is_named_in_the_diagnosis_of_the_real_log():
    reading = read_startup_log((FIXTURES / "startup_unknown_argument.log").read_text())
    assert "--no-such-flag" in reading.cause and "vllm serve --help" in reading.hint


def test_a_deployment_naming_a_missing_model_lists_the_models_there_are(tmp_path):
    write_config_tree(
        tmp_path,
        {
            "model": "qwen",
            "params": "cpu",
            "served_model_name": "x",
            "runtime": {"device": "cpu"},
            "benchmarks": [{"name": "s", "input_len": 1, "output_len": 1, "num_prompts": 1}],
        },
        params={"kv_cache_memory_bytes": "512M"},
    )
    with pytest.raises(ConfigError) as error:
        load_deployments(tmp_path)
    assert "d.yaml: model: 'qwen' not found" in str(error.value) and "Available: tiny" in str(error.value)


def test_an_api_key_variable_that_is_not_set_is_named(monkeypatch):
    from resources.config.models import RuntimeConfig
    from resources.runtime.process import server_env

    monkeypatch.delenv("EVAL_UNSET_KEY", raising=False)
    with pytest.raises(ServiceStartError, match="EVAL_UNSET_KEY, which is not set"):
        server_env(RuntimeConfig(api_key_env="EVAL_UNSET_KEY"))
