"""vLLM's /metrics text: the TTFT histogram read before and after one streamed request.

The fixtures are real: a vLLM CPU server's /metrics before and after one streamed chat
completion (`curl -N .../v1/chat/completions` with "stream": true, nothing else in between).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from resources.serving.server_metrics import TTFT_HISTOGRAM, HistogramTotals, histogram_totals, parse_samples
from resources.serving.smoke_client import PromptOutcome, SmokeOutcome, ttft_comparison

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "vllm"
BEFORE = (FIXTURES / "metrics_cpu_before_stream.txt").read_text()
AFTER = (FIXTURES / "metrics_cpu_after_stream.txt").read_text()


def test_the_ttft_histogram_difference_counts_the_one_streamed_request_and_its_ttft():
    before = histogram_totals(BEFORE, TTFT_HISTOGRAM, {"model_name": "tiny"})
    after = histogram_totals(AFTER, TTFT_HISTOGRAM, {"model_name": "tiny"})
    assert before == HistogramTotals(79.0, 15.26523232460022)
    delta = after - before
    assert delta.count == 1.0
    assert delta.mean * 1000 == pytest.approx(8.8427, abs=1e-3)


def test_a_label_filter_that_matches_nothing_gives_none_and_no_filter_sums_every_series():
    assert histogram_totals(AFTER, TTFT_HISTOGRAM, {"model_name": "other"}) is None
    assert histogram_totals(AFTER, TTFT_HISTOGRAM) == histogram_totals(AFTER, TTFT_HISTOGRAM, {"engine": "0"})
    assert histogram_totals(AFTER, "vllm:no_such_histogram") is None


def test_samples_keep_labels_infinities_and_skip_comments():
    samples = parse_samples(AFTER)
    assert all(not s.name.startswith("#") for s in samples)
    [inf_bucket] = [s for s in samples if s.name == f"{TTFT_HISTOGRAM}_bucket" and s.labels["le"] == "+Inf"]
    assert inf_bucket.value == 80.0 and inf_bucket.labels == {"engine": "0", "le": "+Inf", "model_name": "tiny"}
    [odd] = parse_samples('x_total{path="/a,b",quote="say \\"hi\\""} +Inf 1700000000\n')
    assert odd.labels == {"path": "/a,b", "quote": 'say "hi"'} and math.isinf(odd.value)


def test_engines_of_one_model_are_added_up():
    text = (
        'vllm:time_to_first_token_seconds_count{engine="0",model_name="m"} 2\n'
        'vllm:time_to_first_token_seconds_sum{engine="0",model_name="m"} 0.5\n'
        'vllm:time_to_first_token_seconds_count{engine="1",model_name="m"} 1\n'
        'vllm:time_to_first_token_seconds_sum{engine="1",model_name="m"} 0.25\n'
    )
    assert histogram_totals(text, TTFT_HISTOGRAM, {"model_name": "m"}) == HistogramTotals(3, 0.75)


def _outcome(server: HistogramTotals | None, streamed: int = 1) -> SmokeOutcome:
    return SmokeOutcome(
        models_listed=["tiny"],
        served_name_listed=True,
        prompts=[
            PromptOutcome("hello", True, "hi", 3, 20.0),
            PromptOutcome("hello (streamed)", True, "hi", 3, 30.0, ttft_ms=12.0),
        ],
        server_ttft=server,
        streamed_requests=streamed,
    )


def test_the_smoke_metadata_sets_client_and_server_ttft_side_by_side_with_their_difference():
    metadata = ttft_comparison(_outcome(HistogramTotals(1, 0.0088427)))
    assert metadata["client_ttft_ms"] == 12.0
    assert metadata["server_ttft_ms"] == pytest.approx(8.84)
    assert metadata["ttft_difference_ms"] == pytest.approx(3.16)
    assert "client 12.0 ms, vLLM /metrics 8.8 ms" in metadata["ttft_comparison"]


def test_other_traffic_during_the_smoke_makes_the_server_figure_not_comparable():
    metadata = ttft_comparison(_outcome(HistogramTotals(3, 0.03)))
    assert "server_ttft_ms" not in metadata and "not comparable" in metadata["ttft_comparison"]
    assert "unavailable" in ttft_comparison(_outcome(None))["ttft_comparison"]


def test_the_server_side_of_a_benchmark_is_the_change_in_vllms_counters():
    from resources.serving.server_side import server_side_delta

    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "vllm"
    before = (fixtures / "metrics_cpu_before_stream.txt").read_text()
    after = (fixtures / "metrics_cpu_after_stream.txt").read_text()
    side = server_side_delta(before, after)
    assert side["preemptions"] == 0 and side["prefix_cache_hit_rate"] == 0.0
    assert 0 < side["mean_queue_time_ms"] < 10 and side["requests_waiting_end"] == 0
    assert server_side_delta(None, after) == {}


def test_the_peaks_of_a_benchmark_are_the_highest_gauges_read_while_it_ran():
    from resources.serving.server_peaks import highest

    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "vllm"
    idle = (fixtures / "metrics_cpu_after_stream.txt").read_text()  # a real scrape, nothing in flight
    # The same scrape with requests in flight, as the gauges read mid-benchmark.
    busy = idle.replace(
        'vllm:num_requests_running{engine="0",model_name="tiny"} 0.0',
        'vllm:num_requests_running{engine="0",model_name="tiny"} 12.0',
    ).replace(
        'vllm:num_requests_waiting{engine="0",model_name="tiny"} 0.0',
        'vllm:num_requests_waiting{engine="0",model_name="tiny"} 3.0',
    )
    assert busy != idle
    peaks = highest([idle, None, busy, idle])
    assert peaks["requests_running_peak"] == 12 and peaks["requests_waiting_peak"] == 3
    assert peaks["server_scrapes"] == 3 and 0 <= peaks["kv_cache_usage_peak"] <= 1
    assert highest([None, None]) == {}  # a server without /metrics: nothing claimed
