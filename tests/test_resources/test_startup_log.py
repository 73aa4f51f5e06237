"""Reading a real vLLM start-up log: phases with their durations, and the cause of a failure."""

from pathlib import Path

from resources.serving.startup_log import read_startup_log

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "vllm"


def test_a_healthy_cpu_start_passes_through_every_phase_in_order():
    reading = read_startup_log((FIXTURES / "startup_cpu_eager.log").read_text())
    assert reading.reached == [
        "api_server",
        "engine_init",
        "distributed_init",
        "weights_loading",
        "weights_loaded",
        "kv_cache",
        "engine_ready",
        "ready",
    ]
    assert reading.is_ready and reading.cause is None
    durations = reading.phase_durations()
    assert sum(durations.values()) > 0 and all(v >= 0 for v in durations.values())


def test_the_compiled_start_shows_its_compile_phase_taking_most_of_the_time():
    reading = read_startup_log((FIXTURES / "startup_cpu_compiled.log").read_text())
    assert "torch_compile" in reading.reached
    durations = reading.phase_durations()
    assert durations["torch_compile"] == max(durations.values())


def test_a_failure_is_diagnosed_from_the_engine_error_well_above_the_last_lines():
    healthy = (FIXTURES / "startup_cpu_eager.log").read_text().splitlines()
    cut = next(i for i, line in enumerate(healthy) if "Starting to load model" in line)
    log = (
        healthy[: cut + 1]
        + [
            "(EngineCore pid=3169) ERROR 11-25 22:46:43 [core.py:700] EngineCore failed to start.",
            "(EngineCore pid=3169) ERROR 11-25 22:46:43 [core.py:700] Traceback (most recent call last):",
            "(EngineCore pid=3169) ERROR 11-25 22:46:43 [core.py:700] ValueError: To serve at least one request "
            "with the models's max seq len (16384), (1.50 GiB KV cache is needed, which is larger than the "
            "available KV cache memory (0.50 GiB).",
        ]
        + [
            "(APIServer pid=3112) ERROR 11-25 22:46:44 [api_server.py:1] RuntimeError: Engine core "
            "initialization failed. See root cause above."
        ]
        * 30
    )
    reading = read_startup_log("\n".join(log))
    assert not reading.is_ready
    assert "KV cache does not fit" in reading.cause
    assert "max_model_len" in reading.hint
    assert "EngineCore" in reading.root_cause_line


def test_a_harmless_error_line_is_not_taken_for_the_cause():
    log = (FIXTURES / "startup_cpu_eager.log").read_text() + (
        "\n(APIServer pid=1) ERROR 11-25 22:46:47 [cache.py:1] OSError: [Errno 30] Read-only file system: "
        "'/root/.cache/vllm'\n"
    )
    reading = read_startup_log(log)
    assert reading.cause is None and reading.is_ready


def test_a_real_failed_start_names_the_argument_to_change():
    reading = read_startup_log((FIXTURES / "startup_cpu_max_model_len_too_long.log").read_text())
    assert not reading.is_ready
    assert "max_position_embeddings" in reading.cause and "lower max_model_len" in reading.hint


def test_a_real_h200_start_splits_compile_kv_profiling_and_graph_capture_and_says_the_cache_was_cold():
    # Recorded on one H200 with vLLM 0.24.0 serving a random-weight model of Qwen3-30B-A3B-FP8's
    # shape, with an empty VLLM_CACHE_ROOT.
    reading = read_startup_log((FIXTURES / "startup_gpu_h200_cold_cache.log").read_text())
    assert reading.reached[-5:] == ["torch_compile", "kv_cache", "graph_capture", "engine_ready", "ready"]
    durations = reading.phase_durations()
    assert durations["torch_compile"] == 42.0 and durations["graph_capture"] == 27.0
    assert reading.compile_cache == "miss" and reading.compile_s == 61.74
    assert reading.kv_cache_tokens == 2_031_120 and reading.max_concurrency == 123.97


def test_the_same_start_with_a_warm_cache_loads_the_compiled_graphs_instead_of_compiling():
    cold = read_startup_log((FIXTURES / "startup_gpu_h200_cold_cache.log").read_text())
    warm = read_startup_log((FIXTURES / "startup_gpu_h200_warm_cache.log").read_text())
    assert warm.compile_cache == "hit" and warm.compile_s == 9.86
    assert warm.phase_durations()["torch_compile"] < cold.phase_durations()["torch_compile"] / 4
    assert warm.kv_cache_tokens == cold.kv_cache_tokens, "the same engine capacity, warm or cold"


def test_an_eager_cpu_start_compiles_nothing_and_reports_its_kv_capacity():
    reading = read_startup_log((FIXTURES / "startup_cpu_eager.log").read_text())
    assert reading.compile_cache is None and "torch_compile" not in reading.reached
    assert reading.kv_cache_tokens == 262_144 and reading.max_concurrency == 128.0
