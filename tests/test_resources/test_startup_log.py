"""Reading a real vLLM start-up log: phases with their durations, and the cause of a failure."""

from pathlib import Path

from resources.serving.startup_log import read_startup_log

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "vllm"


def test_a_healthy_cpu_start_passes_through_every_phase_in_order():
    reading = read_startup_log((FIXTURES / "startup_cpu_eager.log").read_text())
    assert reading.reached == ["api_server", "engine_init", "distributed_init", "weights_loading",
                               "weights_loaded", "kv_cache", "engine_ready", "ready"]
    assert reading.is_ready and reading.cause is None
    durations = reading.phase_durations()
    assert sum(durations.values()) > 0 and all(v >= 0 for v in durations.values())


def test_the_compiled_start_shows_its_compile_phase_taking_most_of_the_time():
    reading = read_startup_log((FIXTURES / "startup_cpu_compiled.log").read_text())
    assert "compile_and_graph_capture" in reading.reached
    durations = reading.phase_durations()
    assert durations["compile_and_graph_capture"] == max(durations.values())


def test_a_failure_is_diagnosed_from_the_engine_error_well_above_the_last_lines():
    healthy = (FIXTURES / "startup_cpu_eager.log").read_text().splitlines()
    cut = next(i for i, line in enumerate(healthy) if "Starting to load model" in line)
    log = healthy[: cut + 1] + [
        "(EngineCore pid=3169) ERROR 11-25 22:46:43 [core.py:700] EngineCore failed to start.",
        "(EngineCore pid=3169) ERROR 11-25 22:46:43 [core.py:700] Traceback (most recent call last):",
        "(EngineCore pid=3169) ERROR 11-25 22:46:43 [core.py:700] ValueError: To serve at least one request "
        "with the models's max seq len (16384), (1.50 GiB KV cache is needed, which is larger than the "
        "available KV cache memory (0.50 GiB).",
    ] + ["(APIServer pid=3112) ERROR 11-25 22:46:44 [api_server.py:1] RuntimeError: Engine core "
         "initialization failed. See root cause above."] * 30
    reading = read_startup_log("\n".join(log))
    assert not reading.is_ready
    assert "KV cache does not fit" in reading.cause
    assert "max_model_len" in reading.hint
    assert "EngineCore" in reading.root_cause_line


def test_a_harmless_error_line_is_not_taken_for_the_cause():
    log = (FIXTURES / "startup_cpu_eager.log").read_text() + (
        "\n(APIServer pid=1) ERROR 11-25 22:46:47 [cache.py:1] OSError: [Errno 30] Read-only file system: "
        "'/root/.cache/vllm'\n")
    reading = read_startup_log(log)
    assert reading.cause is None and reading.is_ready


def test_a_real_failed_start_names_the_argument_to_change():
    reading = read_startup_log((FIXTURES / "startup_cpu_max_model_len_too_long.log").read_text())
    assert not reading.is_ready
    assert "max_position_embeddings" in reading.cause and "lower max_model_len" in reading.hint
