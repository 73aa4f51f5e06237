"""vLLM's own view of its requests, from the Prometheus text at ``/metrics``.

The smoke test times its streamed requests from the client; vLLM times the same requests on the
server (``vllm:time_to_first_token_seconds``: from the request's arrival at the engine, after
the chat template and tokenization, to its first generated token). Reading the histogram's sum
and count before and after the requests and taking the difference gives the server's figure for
exactly those requests, provided nothing else was sent to the server meanwhile (the count says).

Parsing is pure (text in, numbers out); ``fetch_metrics`` is the only network call.
"""

from __future__ import annotations

import math
import re
import urllib.error
import urllib.request
from dataclasses import dataclass

TTFT_HISTOGRAM = "vllm:time_to_first_token_seconds"

_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})?\s+(?P<value>\S+)(?:\s+\S+)?$")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')
_UNESCAPE = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


@dataclass(frozen=True)
class HistogramTotals:
    """A histogram's ``_count`` and ``_sum``, added over the label sets that matched."""

    count: float
    sum: float

    def __sub__(self, earlier: HistogramTotals) -> HistogramTotals:
        return HistogramTotals(self.count - earlier.count, self.sum - earlier.sum)

    def __add__(self, other: HistogramTotals) -> HistogramTotals:
        return HistogramTotals(self.count + other.count, self.sum + other.sum)

    @property
    def mean(self) -> float | None:
        return self.sum / self.count if self.count > 0 else None


def parse_samples(text: str) -> list[Sample]:
    """Every sample line of Prometheus text exposition format; comments and blank lines skipped."""
    samples = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if match is None:
            continue
        labels = {
            key: re.sub(r'\\\\|\\"|\\n', lambda m: _UNESCAPE[m.group(0)], value)
            for key, value in _LABEL.findall(match.group("labels") or "")
        }
        samples.append(Sample(match.group("name"), labels, _number(match.group("value"))))
    return samples


def _number(value: str) -> float:
    if value in ("+Inf", "Inf"):
        return math.inf
    if value == "-Inf":
        return -math.inf
    try:
        return float(value)
    except ValueError:
        return math.nan


def histogram_totals(text: str, name: str, labels: dict[str, str] | None = None) -> HistogramTotals | None:
    """The summed ``<name>_count`` and ``<name>_sum`` over label sets containing ``labels``.

    vLLM labels each engine (``engine="0"``, one per data-parallel rank) and the model name:
    the deployment's figure is the sum over its engines. None when the histogram is absent
    (a server started with ``--disable-log-stats``, or not vLLM).
    """
    wanted = labels or {}
    count = total = 0.0
    found = False
    for sample in parse_samples(text):
        if sample.name not in (f"{name}_count", f"{name}_sum"):
            continue
        if any(sample.labels.get(k) != v for k, v in wanted.items()):
            continue
        found = True
        if sample.name.endswith("_count"):
            count += sample.value
        else:
            total += sample.value
    return HistogramTotals(count, total) if found else None


def fetch_metrics(base_url: str, api_key: str | None = None, timeout_s: float = 5.0) -> str | None:
    """The text at ``/metrics``, or None when the server does not expose it."""
    request = urllib.request.Request(f"{base_url}/metrics")
    if api_key:
        request.add_header("Authorization", f"Bearer {api_key}")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return response.read().decode("utf-8", errors="replace")
    except (urllib.error.URLError, OSError, ValueError):
        return None
