"""Which point of a sweep is best, and whether it beats the runner-up beyond noise (pure).

Three objectives, each answered separately:

- the most output throughput per GPU (per host on a CPU) at a scenario's fixed load;
- the lowest median TPOT at that load;
- the most load under the SLO (a scenario with ``slo_search``).

Throughput and TPOT are compared on their measurements: a scenario's repetitions (``repeat: N``)
over the point's recent runs of the same server (``sweep_summary.py``). The winner is the best
geometric mean; against the runner-up the ratio of geometric means gets a 95 % interval from
Welch's t on the logarithms (spreads may differ between points; the logarithm makes a ratio
symmetric). The winner beats the runner-up only when the whole interval lies above
``1 + min_lead`` (default 5 %); otherwise it is a tie within noise, with the numbers. The margin is
there because one run's repetitions share one server start: their spread misses what changes from
one start to the next, which on a 2-core host moved one point's throughput by up to 5 % (63.0, 62.2,
64.9 and 65.2 tok/s over four runs, each run's three repetitions within 3 to 11 %). With fewer than
two measurements of either there is no spread to judge by: undecided, and the fix.

The capacity (``resources/benchmark/capacity_search.py``) is compared on the counts behind it: the
runner-up's requests meeting the SLO at the highest concurrency it was measured at that the winner
met, against the winner's at that concurrency (or, not measured there, at its own highest: a
harder load for the winner).
The winner beats the runner-up only when Fisher's exact test (one-sided) on those two counts gives
p < 0.05; with 16 requests a level, 16 of 16 against 9 of 16 is beyond noise, 16 of 16 against 13 of
16 is not.

What noise alone makes these rules say is tested (tests/test_resources/test_sweep_winner.py): two
identical points, each run once with its own server-start offset, are rarely called different.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from resources.results.intervals import t_quantile

WINNER, TIE, UNDECIDED = "winner", "tie within noise", "undecided"


@dataclass(frozen=True)
class Measured:
    point: str  # partition key
    label: str  # what the point sets, e.g. "max_num_seqs=8, max_num_batched_tokens=256"
    values: tuple[float, ...]  # one per repetition

    @property
    def centre(self) -> float:
        return math.exp(statistics.fmean(math.log(v) for v in self.values))


@dataclass(frozen=True)
class Capacity:
    point: str
    label: str
    answer: int | None  # highest concurrency meeting the goal
    goal: float
    levels: dict[int, tuple[int, int]]  # concurrency -> (requests meeting the SLO, requests sent)


@dataclass(frozen=True)
class Verdict:
    objective: str
    outcome: str  # WINNER, TIE or UNDECIDED
    best: str | None  # the leading point
    runner_up: str | None
    best_value: float | None
    runner_up_value: float | None
    ratio: float | None  # best / runner-up (throughput, capacity) or runner-up / best (TPOT: lower is better)
    low: float | None
    high: float | None
    sentence: str


def ratio_interval(a: tuple[float, ...], b: tuple[float, ...], level: float = 0.95) -> tuple[float, float, float]:
    """(ratio, low, high): the ratio of geometric means of ``a`` over ``b`` with its interval
    (Welch's t on the logarithms). Needs two or more values in each."""
    la, lb = [math.log(v) for v in a], [math.log(v) for v in b]
    va, vb = statistics.variance(la) / len(la), statistics.variance(lb) / len(lb)
    difference = statistics.fmean(la) - statistics.fmean(lb)
    se = math.sqrt(va + vb)
    if se == 0:
        return math.exp(difference), math.exp(difference), math.exp(difference)
    dof = (va + vb) ** 2 / (va**2 / (len(la) - 1) + vb**2 / (len(lb) - 1))
    half = t_quantile(0.5 + level / 2, max(dof, 1.0)) * se
    return math.exp(difference), math.exp(difference - half), math.exp(difference + half)


def _percent(ratio: float) -> str:
    return f"{100 * (ratio - 1):+.1f} %"


def compare_measured(
    objective: str, points: list[Measured], higher_is_better: bool, unit: str, min_lead: float = 0.05
) -> Verdict:
    """The best point on ``objective`` and how far it leads the runner-up, beyond noise or not."""
    points = [p for p in points if p.values and all(v > 0 for v in p.values)]
    if not points:
        return Verdict(objective, UNDECIDED, None, None, None, None, None, None, None, "no valid measurements")
    ranked = sorted(points, key=lambda p: p.centre, reverse=higher_is_better)
    best = ranked[0]
    if len(ranked) == 1:
        return Verdict(
            objective, UNDECIDED, best.point, None, best.centre, None, None, None, None,
            f"only {best.label} has valid measurements ({best.centre:.3g} {unit})",
        )  # fmt: skip
    second = ranked[1]
    head = f"{best.label} ({best.centre:.3g} {unit}) against {second.label} ({second.centre:.3g} {unit})"
    if min(len(best.values), len(second.values)) < 2:
        return Verdict(
            objective, UNDECIDED, best.point, second.point, best.centre, second.centre, None, None, None,
            f"undecided: {head}; one measurement each, no spread to judge by: set repeat: 3 on the scenario",
        )  # fmt: skip
    # The ratio reads "how much better": throughput best/second, latency second/best.
    numerator, denominator = (best, second) if higher_is_better else (second, best)
    ratio, low, high = ratio_interval(numerator.values, denominator.values)
    span = f"95 % interval {_percent(low)} to {_percent(high)}"
    if low > 1 + min_lead:
        outcome = WINNER
        if higher_is_better:
            sentence = f"{best.label} wins by {_percent(ratio)} ({span}): {head}"
        else:
            sentence = f"{best.label} wins: the runner-up's is {_percent(ratio)} higher ({span}): {head}"
    else:
        outcome = TIE
        sentence = f"tie within noise: {head}, a lead of {_percent(ratio)} ({span}"
        sentence += f"; a win needs it all above +{100 * min_lead:g} %)" if low > 1 else ")"
    return Verdict(objective, outcome, best.point, second.point, best.centre, second.centre, ratio, low, high, sentence)


def fisher_greater_p(good_a: int, sent_a: int, good_b: int, sent_b: int) -> float:
    """One-sided Fisher exact p: how likely a share at least this much higher for ``a`` than ``b``
    would be if both had the same true share (the hypergeometric tail)."""
    good, total = good_a + good_b, sent_a + sent_b
    denominator = math.comb(total, sent_a)
    return (
        sum(math.comb(good, k) * math.comb(total - good, sent_a - k) for k in range(good_a, min(good, sent_a) + 1))
        / denominator
    )


def _strength(point: Capacity) -> tuple[int, float]:
    """Rank by the answer, then, between equal answers, by the share met at the next level tried
    above it: the runner-up is the strongest rival, not whichever came first."""
    above = sorted(level for level in point.levels if level > point.answer)
    good, sent = point.levels[above[0]] if above else (1, 1)
    return point.answer, good / sent


def compare_capacity(objective: str, points: list[Capacity], alpha: float = 0.05) -> Verdict:
    """The point sustaining the most concurrency under the SLO, and whether that is beyond noise."""
    reached = [p for p in points if p.answer is not None]
    if not reached:
        return Verdict(objective, UNDECIDED, None, None, None, None, None, None, None, "no point met the SLO goal")
    ranked = sorted(reached, key=_strength, reverse=True)
    best = ranked[0]
    if len(ranked) == 1:
        return Verdict(
            objective, UNDECIDED, best.point, None, best.answer, None, None, None, None,
            f"only {best.label} met the goal (concurrency {best.answer})",
        )  # fmt: skip
    second = ranked[1]
    head = f"{best.label} reached concurrency {best.answer}, {second.label} {second.answer}"
    ratio = best.answer / second.answer
    if best.answer == second.answer:
        sentence = f"tie: both reached concurrency {best.answer}"
        return Verdict(
            objective, TIE, best.point, second.point, best.answer, second.answer, ratio, None, None, sentence
        )
    # The hardest load the runner-up was measured at that the winner met: the same level when the
    # winner measured it too, else the winner's own highest (a harder load for the winner). Chosen
    # by level, never by which count looks best, so noise alone is not picked out.
    beyond = [level for level in second.levels if second.answer < level <= best.answer]
    if not beyond:
        sentence = f"undecided: {head}, but {second.label} was not measured between {second.answer} and {best.answer}"
        return Verdict(
            objective, UNDECIDED, best.point, second.point, best.answer, second.answer, ratio, None, None, sentence
        )
    level = max(beyond)
    winner_level = level if level in best.levels else best.answer
    good_a, sent_a = best.levels[winner_level]
    good_b, sent_b = second.levels[level]
    p = fisher_greater_p(good_a, sent_a, good_b, sent_b)
    counts = (
        f"{good_a} of {sent_a} requests met the SLO at concurrency {winner_level} against {good_b} of {sent_b} "
        f"for {second.label} at {level}; Fisher's exact p = {p:.2g}"
    )
    if p < alpha:
        outcome, sentence = WINNER, f"{best.label} wins: {head} ({counts})"
    else:
        outcome, sentence = TIE, f"tie within noise: {head}, but {counts}"
    return Verdict(objective, outcome, best.point, second.point, best.answer, second.answer, ratio, None, p, sentence)
