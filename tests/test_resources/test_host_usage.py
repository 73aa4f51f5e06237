"""How busy the host was during a benchmark: a server in a container on this machine's engine is
accounted by its control group, whichever cgroup version the host runs, and the window is measured
however short the benchmark and however busy the host."""

from __future__ import annotations

import os
import time

from resources.benchmark import host_usage
from resources.benchmark.host_usage import Cgroup, HostUsage, Sampler, Snapshot, cgroup_usage_file, usage_between

CONTAINER = "/docker/1b410230da2eda0758e92bd3a6854e69f34d5eae68f89c044a14c7f66a168b4b"
V1_LINES = [f"4:memory:{CONTAINER}", f"2:cpuacct:{CONTAINER}", f"1:cpu:{CONTAINER}", f"0::{CONTAINER}"]
V2_LINES = [f"0::/system.slice/docker-{CONTAINER[8:]}.scope"]


def test_a_v1_host_reads_the_containers_cpuacct_usage_in_nanoseconds(tmp_path):
    folder = tmp_path / "cpuacct" / CONTAINER.lstrip("/")
    folder.mkdir(parents=True)
    (folder / "cpuacct.usage").write_text("2500000000\n")
    group = cgroup_usage_file(V1_LINES, tmp_path)
    assert group == Cgroup(str(folder / "cpuacct.usage")) and group.cpu_s() == 2.5


def test_a_v2_host_reads_usage_usec_from_the_groups_cpu_stat(tmp_path):
    folder = tmp_path / V2_LINES[0][3:].lstrip("/")
    folder.mkdir(parents=True)
    (folder / "cpu.stat").write_text("usage_usec 1750000\nuser_usec 1500000\nsystem_usec 250000\n")
    group = cgroup_usage_file(V2_LINES, tmp_path)
    assert group is not None and group.cpu_s() == 1.75


def test_a_process_in_the_root_group_has_no_group_of_its_own(tmp_path):
    (tmp_path / "cpuacct").mkdir()
    (tmp_path / "cpuacct" / "cpuacct.usage").write_text("1\n")
    assert cgroup_usage_file(["2:cpuacct:/", "0::/"], tmp_path) is None


def test_the_groups_time_counts_as_the_servers_and_only_the_rest_as_other_work():
    before = Snapshot(time.monotonic(), 100.0, {"server": 10.0, "load_generator": 1.0})
    after = Snapshot(before.at + 10, 119.0, {"server": 26.0, "load_generator": 2.0})
    usage = usage_between(before, after)
    assert isinstance(usage, HostUsage)
    assert usage.own_cores == {"server": 1.6, "load_generator": 0.1} and round(usage.others_cores, 6) == 0.2


def test_a_benchmark_shorter_than_one_sampling_period_still_gets_its_hosts_usage():
    # On a busy 2-core host the sampling thread may not run at all before a short point ends:
    # the window's two ends are taken on entry and exit, so the figure is never missing.
    started = os.getpid()
    with Sampler({"load_generator": started}, period_s=60) as sampler:
        sum(range(2_000_000))
    usage = sampler.last_seconds(0.01)
    assert len(sampler.samples) == 2 and usage is not None
    assert usage.host_cores is not None and usage.own_cores["load_generator"] >= 0


def test_a_process_that_is_gone_or_half_gone_is_stepped_over(tmp_path, monkeypatch):
    # A process that exits between the listing of /proc and the read of its stat file gives an
    # error or an empty file; the sampler counts it as nothing instead of dying.
    for pid, text in {
        "10": b"10 (vllm) S 1 10 10 0 -1 0 0 0 0 0 250 50 7 3 20 0 1 0 0\n",
        "11": b"",
        "12": b"12 (odd name) \xff) R 10 12 12 0 -1 0 0 0 0 0 100 0 0 0 20 0 1 0 0\n",
    }.items():
        (tmp_path / pid).mkdir()
        (tmp_path / pid / "stat").write_bytes(text)
    monkeypatch.setattr(host_usage, "_PROC", tmp_path)
    monkeypatch.setattr(host_usage, "_TICKS", 100)
    assert host_usage.tree_cpu_s(10) == 3.1 + 1.0
    assert host_usage.tree_cpu_s(11) == 0.0
