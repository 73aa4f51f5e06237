"""The highest load under a latency SLO: a bounded search over concurrency (pure).

Like MLPerf LoadGen's FindPeakPerformance and vLLM's ``bench sweep serve_workload``: double the
concurrency from ``start`` while the share of requests meeting every target of the scenario's SLO
stays at or above ``goal``, then bisect between the last level that met it and the first that did
not, until they are neighbours (or ``max_steps`` levels have run). Every level measured is a load
point of its own (``<scenario>/c<N>``), so the curve is kept beside the answer.

The share at a level is a count out of the level's requests, so it carries binomial noise: with 16
requests, 14 good (88 %) and 16 good (100 %) are not far apart. Two parameter sets' capacities are
therefore compared on the counts themselves (``resources/results/sweep_winner.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class LevelOutcome:
    level: int
    good: int  # requests that met every target
    total: int  # requests sent (failed ones count as not meeting the SLO)

    @property
    def share(self) -> float:
        return self.good / self.total if self.total else 0.0


@dataclass
class CapacitySearch:
    start: int
    max: int
    goal: float
    max_steps: int = 8
    outcomes: list[LevelOutcome] = field(default_factory=list)

    def _passed(self) -> list[int]:
        return [o.level for o in self.outcomes if o.share >= self.goal]

    def _failed(self) -> list[int]:
        return [o.level for o in self.outcomes if o.share < self.goal]

    def next_level(self) -> int | None:
        """The next concurrency to measure, or None when the search is done."""
        if not self.outcomes:
            return self.start
        if len(self.outcomes) >= self.max_steps:
            return None
        passed, failed = self._passed(), self._failed()
        low = max(passed, default=None)
        high = min((f for f in failed if low is None or f > low), default=None)
        if low is None:
            return None  # even the first level missed the goal: nothing lower is searched
        if high is None:  # still doubling
            if low >= self.max:
                return None
            return min(low * 2, self.max)
        middle = (low + high) // 2
        return middle if middle not in (low, high) else None

    def record(self, level: int, good: int, total: int) -> None:
        self.outcomes.append(LevelOutcome(level, good, total))

    def answer(self) -> int | None:
        """The highest level that met the goal with every level measured below it meeting it too."""
        best = None
        for outcome in sorted(self.outcomes, key=lambda o: o.level):
            if outcome.share < self.goal:
                break
            best = outcome.level
        return best


def requests_meeting(request_goodput: float | None, duration_s: float, completed: int, failed: int) -> int:
    """How many of a point's requests met every target: vLLM's own goodput (good requests per
    second over the run) times the run's duration. vLLM counts a request good when each metric
    named in ``--goodput`` is at or below its target; a failed request is never good."""
    if request_goodput is None:
        return 0
    return min(completed, round(request_goodput * duration_s))
