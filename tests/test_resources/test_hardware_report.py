"""The hardware report, checked against recordings of real GPU hosts.

Each folder under tests/fixtures/nvml/ holds what ``python -m resources.hardware.capture``
wrote on a real machine: the NVML answers and host facts it read (nvml_recording.json),
the report it built there (report.json, report.md), and nvidia-smi's own view beside them.
Replaying the recording here must rebuild that report exactly.
"""

from __future__ import annotations

import copy
import ctypes
import json
from pathlib import Path
from typing import Any

import pynvml
import pytest

from resources.hardware.host_facts import HostFacts
from resources.hardware.nvml_source import LiveNvml, RecordingNvml, ReplayNvml
from resources.hardware.report import HardwareReport, collect_hardware_report

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "nvml"
RECORDED_HOSTS = sorted(p.name for p in FIXTURES.iterdir() if (p / "nvml_recording.json").exists())
MIB = 2**20


def load_recording(host: str) -> dict[str, Any]:
    return json.loads((FIXTURES / host / "nvml_recording.json").read_text())


def replay(recording: dict[str, Any]) -> HardwareReport:
    return collect_hardware_report(nvml=ReplayNvml(recording), host=HostFacts.from_dict(recording["host_facts"]))


# ---- recordings edited in memory ---------------------------------------------------------
# Hosts we have no machine for (an old driver, a degraded slot, a busy GPU) are derived from
# a real recording by changing only the answers that differ there; everything else stays
# what the real driver said.


def _answers(recording: dict[str, Any], call: str) -> list[dict[str, Any]]:
    return [entry for entry in recording["nvml_calls"] if entry["call"] == call]


def with_driver(recording: dict[str, Any], version: str, cuda: int) -> dict[str, Any]:
    """Derived from a real recording, edited in memory: the same host on another driver."""
    edited = copy.deepcopy(recording)
    _answers(edited, "driver_version")[0]["result"] = version
    _answers(edited, "cuda_driver_version")[0]["result"] = cuda
    return edited


def with_foreign_process(
    recording: dict[str, Any], gpu: int = 0, pid: int = 4242, used_mib: int = 60000
) -> dict[str, Any]:
    """Derived from a real recording, edited in memory: another job holds ``used_mib`` of a GPU."""
    edited = copy.deepcopy(recording)
    for entry in _answers(edited, "compute_running_processes"):
        if entry["args"] == [gpu]:
            entry["result"] = [{"pid": pid, "used_gpu_memory": used_mib * MIB}]
    for entry in _answers(edited, "memory_info"):
        if entry["args"] == [gpu]:
            entry["result"]["used"] += used_mib * MIB
            entry["result"]["free"] -= used_mib * MIB
    return edited


def with_pcie_gen3_x4_and_no_nvlink(recording: dict[str, Any]) -> dict[str, Any]:
    """Derived from a real recording, edited in memory: GPUs in slots trained down to
    PCIe Gen3 x4, with no NVLink between them, so tensor parallelism goes over PCIe."""
    edited = copy.deepcopy(recording)
    trained = {"gen_current": 3, "gen_max": 3, "width_current": 4, "width_max": 16}
    for entry in _answers(edited, "pcie_link"):
        entry["result"] = trained[entry["args"][1]]
    for entry in _answers(edited, "nvlink_states"):
        entry["result"] = []
    for entry in _answers(edited, "p2p_status"):
        if entry["args"][2] == "nvlink":
            entry["result"] = pynvml.NVML_P2P_STATUS_NOT_SUPPORTED
    return edited


def with_nvml_error(recording: dict[str, Any], call: str, code: int) -> dict[str, Any]:
    """Derived from a real recording, edited in memory: every ``call`` raises NVML error ``code``."""
    edited = copy.deepcopy(recording)
    for entry in _answers(edited, call):
        entry.pop("result", None)
        entry["error"] = {"code": code, "name": type(pynvml.NVMLError(code)).__name__}
    return edited


def without_driver(recording: dict[str, Any], code: int = pynvml.NVML_ERROR_LIBRARY_NOT_FOUND) -> dict[str, Any]:
    """Derived from a real recording, edited in memory: the same host with NVML failing to start."""
    edited = with_nvml_error(recording, "init", code)
    edited["nvml_calls"] = _answers(edited, "init")
    return edited


# ---- replaying real hosts ----------------------------------------------------------------


@pytest.mark.parametrize("host", RECORDED_HOSTS)
def test_replaying_a_real_gpu_host_rebuilds_the_report_captured_on_it(host):
    report = replay(load_recording(host))

    assert report.as_dict() == json.loads((FIXTURES / host / "report.json").read_text())
    assert report.to_markdown() == (FIXTURES / host / "report.md").read_text()


def test_the_recorded_hosts_cover_one_and_two_gpus():
    counts = {len(replay(load_recording(host)).gpus) for host in RECORDED_HOSTS}
    assert {1, 2} <= counts


def test_two_gpu_report_shows_the_nvlink_between_them_as_nvidia_smi_does():
    report = replay(load_recording("h200_x2"))

    pair = report.gpu_pairs[0]
    assert pair.over_nvlink
    links = sum(report.gpus[0].nvlink_active)
    # nvidia-smi topo -m on the same machine printed NV<links> for the pair.
    assert f"NV{links}" in (FIXTURES / "h200_x2" / "nvidia-smi-topo.txt").read_text()


def test_report_as_dict_survives_a_json_round_trip():
    report = replay(load_recording("h200_x2"))
    assert json.loads(json.dumps(report.as_dict())) == report.as_dict()


# ---- fingerprint -------------------------------------------------------------------------


def test_fingerprint_stays_the_same_when_another_job_takes_gpu_memory():
    recording = load_recording("h200_x2")
    busy = with_foreign_process(recording)

    assert replay(busy).gpus[0].compute_processes  # the edit took effect
    assert replay(busy).fingerprint == replay(recording).fingerprint


def test_fingerprint_stays_the_same_when_free_disk_changes():
    recording = load_recording("h100_x1")
    fuller = copy.deepcopy(recording)
    fuller["host_facts"]["weights_dir_free_bytes"] //= 2

    assert replay(fuller).fingerprint == replay(recording).fingerprint


def test_fingerprint_changes_after_a_driver_upgrade():
    recording = load_recording("h200_x2")
    older = with_driver(recording, "535.104.05", 12020)

    assert replay(older).fingerprint != replay(recording).fingerprint


def test_fingerprint_tells_a_one_gpu_host_from_a_two_gpu_host():
    assert replay(load_recording("h100_x1")).fingerprint != replay(load_recording("h200_x2")).fingerprint


# ---- what NVML cannot answer -------------------------------------------------------------


def test_a_query_the_gpu_does_not_support_shows_as_n_a_instead_of_failing():
    recording = with_nvml_error(load_recording("h100_x1"), "mig_mode", pynvml.NVML_ERROR_NOT_SUPPORTED)

    report = replay(recording)

    assert report.gpus[0].mig_enabled is None
    assert report.gpus[0].unsupported == {"mig_mode": "NotSupported"}
    assert "mig_mode (NotSupported)" in report.to_markdown()
    assert "| n/a |" in report.to_markdown()


def test_a_host_without_nvidia_driver_is_reported_plainly_from_a_recording():
    report = replay(without_driver(load_recording("h100_x1")))

    assert not report.nvidia_driver_present
    assert "no NVIDIA driver" in report.no_driver_reason
    assert report.gpus == []
    assert "NVIDIA GPUs unavailable" in report.to_markdown()


def test_a_driver_that_is_not_loaded_says_how_to_load_it():
    report = replay(without_driver(load_recording("h100_x1"), pynvml.NVML_ERROR_DRIVER_NOT_LOADED))

    assert not report.nvidia_driver_present
    assert "modprobe nvidia" in report.no_driver_reason


def test_this_machine_without_a_gpu_reports_no_nvidia_driver_plainly(tmp_path):
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        pass
    else:
        pynvml.nvmlShutdown()
        pytest.skip("this machine has an NVIDIA driver")

    report = collect_hardware_report(weights_dir=tmp_path)

    assert report.nvidia_driver_present is False
    assert report.no_driver_reason.startswith("no NVIDIA driver on this host")
    assert report.host.weights_dir == str(tmp_path)
    assert report.host.weights_dir_free_bytes > 0
    assert "no NVIDIA driver on this host" in report.to_markdown()


# ---- recording and replaying -------------------------------------------------------------


def test_recording_a_replay_gives_back_the_same_recording():
    recording = load_recording("h200_x2")
    again = RecordingNvml(ReplayNvml(recording))

    collect_hardware_report(nvml=again, host=HostFacts.from_dict(recording["host_facts"]))

    assert again.recording()["nvml_calls"] == recording["nvml_calls"]


def test_replay_raises_the_recorded_nvml_error_class():
    replayer = ReplayNvml(without_driver(load_recording("h100_x1")))
    with pytest.raises(pynvml.NVMLError_LibraryNotFound):
        replayer.init()


def test_replay_refuses_a_query_the_real_host_was_never_asked():
    replayer = ReplayNvml(load_recording("h100_x1"))
    with pytest.raises(LookupError, match="not in the recording"):
        replayer.name(7)


def test_live_nvml_on_a_host_without_driver_raises_an_nvml_error_not_a_crash():
    try:
        ctypes.CDLL("libnvidia-ml.so.1")
    except OSError:
        pass
    else:
        pytest.skip("this machine has an NVIDIA driver (libnvidia-ml.so.1 loads)")

    with pytest.raises(pynvml.NVMLError) as raised:
        LiveNvml().init()

    # Exactly NVML's own class for a missing library: the report's reason is chosen by it.
    assert raised.type is pynvml.NVMLError_LibraryNotFound
