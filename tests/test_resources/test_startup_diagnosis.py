"""Diagnosing a vLLM start-up from a whole log, as ``python -m pipelines diagnose LOGFILE`` does.

The CPU logs and the startup_gpu_h200_*.log are real recordings (the H200 ones are read in
test_h200_recordings.py). The three startup_gpu_tp2_* / weights_stalled logs are composed in
vLLM's log format, for what one GPU cannot show (NCCL across two GPUs, a TP 2 worker's CUDA OOM,
a slow disk): tests/fixtures/vllm/README.md says which is which.
"""

from __future__ import annotations

from pathlib import Path

from pipelines.__main__ import main
from resources.serving.startup_diagnosis import diagnose, diagnose_container_state

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "vllm"


def _fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def test_a_cuda_oom_is_found_in_the_worker_line_far_above_the_api_servers_echo():
    diagnosis = diagnose(_fixture("startup_gpu_tp2_cuda_oom.log"))
    assert not diagnosis.is_ready
    assert "ran out of memory" in diagnosis.cause
    assert "lower max_model_len or gpu_memory_utilization" in diagnosis.hint
    assert "torch.OutOfMemoryError: CUDA out of memory" in diagnosis.root_cause_line
    assert diagnosis.reached[:3] == ["api_server", "engine_init", "distributed_init"]
    assert diagnosis.phase_durations()["weights_loading"] == 55.0, "the phase durations come from the log's timestamps"


def test_the_harmless_read_only_cache_error_is_not_taken_for_the_cause():
    diagnosis = diagnose(_fixture("startup_gpu_tp2_nccl_error.log"))
    assert "Read-only" not in (diagnosis.root_cause_line or "")
    assert "NCCL" in diagnosis.cause and "NCCL_P2P_DISABLE=1" in diagnosis.hint
    assert "nvidia-smi topo -m" in diagnosis.hint


def test_a_log_that_stops_while_loading_weights_points_at_the_disk():
    diagnosis = diagnose(_fixture("startup_gpu_weights_stalled.log"), timed_out=True)
    assert diagnosis.reached[-1] == "weights_loading"
    assert "weights loading did not finish" in diagnosis.cause and "disk" in diagnosis.hint


def test_an_unknown_argument_is_named():
    diagnosis = diagnose(_fixture("startup_unknown_argument.log"))
    assert "--no-such-flag" in diagnosis.cause


def test_a_healthy_start_has_no_cause_and_every_phase_timed():
    diagnosis = diagnose(_fixture("startup_cpu_compiled.log"))
    assert diagnosis.is_ready and diagnosis.cause is None
    assert diagnosis.phase_durations()["torch_compile"] == max(diagnosis.phase_durations().values())


def test_what_only_the_container_state_shows_outranks_the_log():
    oom = diagnose(
        "(APIServer pid=1) INFO 11-20 02:00:04 [api_server.py:1] vLLM API server version 0.10.1.1\n",
        {"Status": "exited", "OOMKilled": True, "ExitCode": 137},
    )
    assert "OOMKilled" in oom.cause
    port = diagnose_container_state(
        {
            "Status": "created",
            "Error": "driver failed programming external "
            "connectivity: Bind for 127.0.0.1:8000 failed: port is already allocated",
        }
    )
    assert "port is already allocated" in port[0] and "another runtime.port" in port[1]
    assert diagnose_container_state({"Status": "running", "Error": ""}) is None


def test_the_diagnose_command_prints_phases_cause_and_fix_and_exits_1_on_a_failed_start(capsys):
    assert main(["diagnose", str(FIXTURES / "startup_gpu_tp2_cuda_oom.log")]) == 1
    out = capsys.readouterr().out
    assert "Phases reached:" in out and "weights_loading" in out
    assert "Cause: the GPU ran out of memory" in out and "Fix: lower max_model_len" in out
    assert "Root-cause line: (VllmWorker TP0 pid=246) ERROR" in out and "Last log lines" in out


def test_the_diagnose_command_exits_0_on_a_healthy_log(capsys):
    assert main(["diagnose", str(FIXTURES / "startup_cpu_eager.log")]) == 0
    assert "the server became ready" in capsys.readouterr().out


def test_the_diagnose_command_says_whether_the_compile_cache_hit_and_how_large_the_kv_cache_is(capsys):
    # Recorded on one H200: the same deployment started from an empty cache, then again warm.
    assert main(["diagnose", str(FIXTURES / "startup_gpu_h200_cold_cache.log")]) == 0
    cold = capsys.readouterr().out
    assert "Compile cache: miss" in cold and "torch.compile took 61.74 s" in cold
    assert "KV cache: 2,031,120 tokens, 123.97 requests of 16,384 tokens at once" in cold
    assert main(["diagnose", str(FIXTURES / "startup_gpu_h200_warm_cache.log")]) == 0
    warm = capsys.readouterr().out
    assert "Compile cache: hit" in warm and "torch.compile took 9.86 s" in warm


def test_the_diagnose_command_says_when_nothing_was_compiled_or_the_kv_cache_never_sized(capsys):
    assert main(["diagnose", str(FIXTURES / "startup_cpu_eager.log")]) == 0
    eager = capsys.readouterr().out
    assert "Compile cache: not used" in eager and "KV cache: 262,144 tokens, 128 requests of 2,048" in eager
    assert main(["diagnose", str(FIXTURES / "startup_gpu_h200_kv_cache_too_small.log")]) == 1
    refused = capsys.readouterr().out
    assert "KV cache: not reported (the log stops before the engine sized it)" in refused
    assert "Error lines: " in refused
