"""The highest KV-cache usage and queue depths vLLM reported while a benchmark ran.

vLLM's ``/metrics`` gauges (``vllm:kv_cache_usage_perc``, ``vllm:num_requests_running``,
``vllm:num_requests_waiting``) say only how things stand at the moment they are read; after a
benchmark they are back at zero. A scrape before and after (``server_side.py``) therefore cannot
say whether the KV cache filled up. ``ServerPeaks`` reads them on a background thread while the
benchmark runs and keeps the highest values: a peak near 100 % with preemptions explains a slow
result from the server's side (the cache was full and requests were evicted and recomputed).

A scrape is a small HTTP request to the server every ``interval_s`` (a quarter second: a ladder's
short points last under a second); it takes a millisecond or two of the API server's event loop,
little beside a benchmark's thousands of streamed chunks.
"""

from __future__ import annotations

import threading

from resources.serving.server_metrics import fetch_metrics, parse_samples

GAUGES = {  # /metrics gauge -> result column
    "vllm:kv_cache_usage_perc": "kv_cache_usage_peak",
    "vllm:num_requests_running": "requests_running_peak",
    "vllm:num_requests_waiting": "requests_waiting_peak",
}


def gauge_values(text: str) -> dict[str, float]:
    """The result columns' values in one scrape: each gauge summed over its engines."""
    found: dict[str, float] = {}
    for sample in parse_samples(text):
        column = GAUGES.get(sample.name)
        if column is not None:
            found[column] = found.get(column, 0.0) + sample.value
    return found


def highest(scrapes) -> dict:
    """The highest value of each gauge over scrapes (texts; None for a failed scrape), and how
    many scrapes answered. Empty when none did: the server exposes no metrics."""
    peaks: dict[str, float] = {}
    answered = 0
    for text in scrapes:
        if not text:
            continue
        answered += 1
        for column, value in gauge_values(text).items():
            peaks[column] = max(value, peaks.get(column, value))
    return {**peaks, "server_scrapes": answered} if answered else {}


class ServerPeaks:
    """``with ServerPeaks(base_url, api_key) as peaks: ...`` then ``peaks.as_row()``."""

    # A server whose event loop is busy streaming (a CPU build on a few cores) answers /metrics
    # late: a timeout as short as the interval would drop exactly the scrapes taken at the peak.
    SCRAPE_TIMEOUT_S = 2.0

    def __init__(self, base_url: str, api_key: str | None = None, interval_s: float = 0.25):
        self.base_url, self.api_key, self.interval_s = base_url, api_key, interval_s
        self._scrapes: list[str | None] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="server-peaks", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._scrapes.append(fetch_metrics(self.base_url, self.api_key, timeout_s=self.SCRAPE_TIMEOUT_S))
            self._stop.wait(self.interval_s)

    def __enter__(self) -> "ServerPeaks":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=self.SCRAPE_TIMEOUT_S + self.interval_s)

    def as_row(self) -> dict:
        return highest(list(self._scrapes))
