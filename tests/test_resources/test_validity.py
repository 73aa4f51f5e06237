"""When a benchmark result is a valid measurement, and the host measurements behind it."""

from __future__ import annotations

import os
import subprocess
import sys

from resources.benchmark.host_usage import snapshot, usage_between
from resources.results.validity import ValidityLimits, judge_validity, request_streamed, sent_rate

GOOD = {"completed": 32, "failed": 0, "duration_s": 2.0}


def _requests(n=32, gap=0.01, tokens=64, start_every=0.1):
    return [
        {
            "output_len": tokens,
            "chunks": tokens,
            "streamed": request_streamed([gap] * (tokens - 1), tokens),
            "start_time_s": i * start_every,
            "error": None,
        }
        for i in range(n)
    ]


def test_a_clean_run_is_valid():
    validity = judge_validity(
        GOOD, _requests(), {"loadgen_cpu_cores": 0.3, "other_cpu_cores": 0.1, "server_cpu_cores": 1.5, "cpu_count": 2}
    )
    assert validity.valid and validity.reasons == () and validity.stream_measured is True


def test_a_reply_in_a_handful_of_chunks_or_in_one_burst_did_not_stream():
    assert request_streamed([0.01] * 63, 64) is True
    assert request_streamed([0.2], 64) is False  # two chunks for 64 tokens
    assert request_streamed([3e-6] * 63, 64) is False  # every chunk read at once from the socket
    assert request_streamed([1e-4] * 60 + [0.5] * 3, 64) is False  # a burst after a long wait
    assert request_streamed([0.01] * 60 + [0.3] * 3, 64) is True  # a few stalls in a real stream
    assert request_streamed([], 1) is None


def test_failed_short_and_crowded_runs_are_invalid_with_each_reason():
    usage = {"loadgen_cpu_cores": 0.97, "other_cpu_cores": 1.2, "server_cpu_cores": 0.6, "cpu_count": 2}
    validity = judge_validity({"completed": 5, "failed": 2, "duration_s": 0.1}, _requests(5), usage)
    text = validity.reason_text
    assert not validity.valid
    for part in (
        "2 of 7 requests failed",
        "only 5 requests completed",
        "lasted 0.10 s",
        "load generator used 0.97 of its one core",
        "other work used 1.20 of the host's 2 cores",
    ):
        assert part in text


def test_a_rate_scenario_the_load_generator_could_not_keep_up_with_is_invalid():
    requests = _requests(start_every=0.5)  # 2 requests/s sent
    assert sent_rate(requests) == 2.0
    assert judge_validity(GOOD, requests, configured_rate=2.0).valid
    slow = judge_validity(GOOD, requests, configured_rate=10.0)
    assert not slow.valid and "sent 2.00 req/s against the configured 10 req/s" in slow.reason_text


def test_limits_are_adjustable():
    usage = {"other_cpu_cores": 0.8, "cpu_count": 2}
    assert not judge_validity(GOOD, _requests(), usage).valid
    assert judge_validity(GOOD, _requests(), usage, limits=ValidityLimits(max_other_cores_fraction=0.5)).valid


def test_the_process_tree_and_the_host_account_for_a_child_that_burned_cpu_and_exited():
    # The kernel's own account of the child (its rusage) is the reference, however busy the host.
    before = snapshot({"load_generator": os.getpid()})
    child = subprocess.Popen([sys.executable, "-c", "import time\nwhile time.process_time() < 0.4: pass"])
    _, _, rusage = os.wait4(child.pid, 0)
    after = snapshot({"load_generator": os.getpid()})
    burned = rusage.ru_utime + rusage.ru_stime
    usage = usage_between(before, after)
    tree_s = usage.own_cores["load_generator"] * usage.wall_s
    assert burned >= 0.4 and tree_s >= burned - 0.05  # clock ticks are 10 ms
    assert usage.host_cores * usage.wall_s >= burned - 0.05
    assert usage.others_cores >= 0 and usage.as_row()["cpu_count"] == os.cpu_count()
