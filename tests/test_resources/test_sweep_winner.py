"""Which parameter set is best: a winner only beyond noise, and what noise alone makes the rule say."""

from __future__ import annotations

import random

from resources.benchmark.capacity_search import CapacitySearch
from resources.results.sweep_winner import (
    TIE,
    UNDECIDED,
    WINNER,
    Capacity,
    Measured,
    compare_capacity,
    compare_measured,
)


def _draws(rng: random.Random, centre: float, spread: float, n: int) -> tuple[float, ...]:
    return tuple(centre * rng.lognormvariate(0, spread) for _ in range(n))


def _run_once(rng: random.Random, centre: float, start_spread: float, repetition_spread: float, n: int):
    """One run's repetitions: a server start moves them all together, each repetition scatters."""
    start = centre * rng.lognormvariate(0, start_spread)
    return _draws(rng, start, repetition_spread, n)


def _identical_points_called_different(seed: int, trials: int, **rule) -> float:
    """How often the rule crowns a winner between two identical points, each run once (three
    repetitions), with the noise measured on this 2-core host: one point's throughput moved by up to
    5 % from one server start to the next (sd about 2.5 %), its repetitions within a run by about 2 %."""
    rng = random.Random(seed)
    winners = 0
    for _ in range(trials):
        points = [Measured(name, name, _run_once(rng, 100, 0.025, 0.02, 3)) for name in ("a", "b")]
        winners += compare_measured("throughput", points, higher_is_better=True, unit="tok/s", **rule).outcome == WINNER
    return winners / trials


def test_two_identical_parameter_sets_run_once_each_are_rarely_called_different():
    assert _identical_points_called_different(7, 4000) < 0.05


def test_without_the_margin_the_same_noise_would_crown_a_winner_often():
    # Why the margin: the repetitions' interval alone ignores the server start.
    assert _identical_points_called_different(8, 2000, min_lead=0.0) > 0.15


def test_a_real_20_percent_lead_is_found_and_its_interval_holds_the_true_ratio():
    rng = random.Random(11)
    found, covered, trials = 0, 0, 1000
    for _ in range(trials):
        verdict = compare_measured(
            "throughput",
            [Measured("fast", "fast", _draws(rng, 120, 0.03, 3)), Measured("slow", "slow", _draws(rng, 100, 0.03, 3))],
            higher_is_better=True,
            unit="tok/s",
        )
        found += verdict.outcome == WINNER and verdict.best == "fast"
        covered += verdict.low <= 1.2 <= verdict.high
    assert found / trials > 0.9
    assert 0.9 < covered / trials <= 1.0


def test_lower_tpot_wins_and_the_sentence_gives_the_numbers():
    verdict = compare_measured(
        "median TPOT",
        [Measured("p1", "max_num_seqs=2", (30.0, 31.0, 30.5)), Measured("p2", "max_num_seqs=8", (60.0, 61.0, 59.0))],
        higher_is_better=False,
        unit="ms",
    )
    assert verdict.outcome == WINNER and verdict.best == "p1" and verdict.runner_up == "p2"
    assert verdict.ratio > 1.9 and verdict.low > 1
    assert verdict.sentence.startswith("max_num_seqs=2 wins: the runner-up's is +9")


def test_one_measurement_each_is_undecided_and_says_how_to_fix_it():
    verdict = compare_measured(
        "throughput", [Measured("a", "a", (100.0,)), Measured("b", "b", (50.0,))], higher_is_better=True, unit="tok/s"
    )
    assert verdict.outcome == UNDECIDED and "repeat: 3" in verdict.sentence


def _search(rng: random.Random, capacity: int, sent: int) -> CapacitySearch:
    """A search against a server whose share of requests meeting the SLO is 98 % up to ``capacity``
    and falls by 15 points per level beyond it."""
    search = CapacitySearch(start=1, max=32, goal=0.9)
    while (level := search.next_level()) is not None:
        share = 0.98 if level <= capacity else max(0.0, 0.98 - 0.15 * (level - capacity))
        search.record(level, sum(rng.random() < share for _ in range(sent)), sent)
    return search


def _capacity(name: str, search: CapacitySearch) -> Capacity:
    levels = {o.level: (o.good, o.total) for o in search.outcomes}
    return Capacity(name, name, search.answer(), search.goal, levels)


def test_the_search_doubles_then_bisects_and_finds_the_capacity():
    search = _search(random.Random(3), capacity=11, sent=400)
    levels = [o.level for o in search.outcomes]
    assert levels[:5] == [1, 2, 4, 8, 16]
    assert search.answer() == 11 and len(levels) <= 8
    assert levels[-2:] in ([12, 11], [10, 11])  # bisected down to neighbours


def test_a_search_whose_first_level_misses_stops_there():
    search = CapacitySearch(start=2, max=16, goal=0.9)
    search.record(search.next_level(), 3, 16)
    assert search.next_level() is None and search.answer() is None


def test_two_identical_servers_searched_with_16_requests_a_level_are_rarely_called_different():
    # Noise alone: both servers meet the SLO 98 % of the time up to 6, less beyond; 16 requests a
    # level. Their answers differ often (binomial noise); the verdict must not say "winner" often.
    rng = random.Random(5)
    outcomes = []
    for _ in range(1000):
        verdict = compare_capacity(
            "capacity", [_capacity("a", _search(rng, 6, 16)), _capacity("b", _search(rng, 6, 16))]
        )
        outcomes.append(verdict.outcome)
    assert outcomes.count(WINNER) / len(outcomes) < 0.05
    assert outcomes.count(TIE) > 0


def test_a_server_with_twice_the_capacity_wins_with_16_requests_a_level_and_the_counts_are_given():
    rng = random.Random(9)
    verdict = compare_capacity(
        "capacity", [_capacity("big", _search(rng, 8, 16)), _capacity("small", _search(rng, 4, 16))]
    )
    assert verdict.outcome == WINNER and verdict.best == "big", verdict.sentence
    assert (
        "of 16 requests met the SLO at concurrency 8 against" in verdict.sentence
        and "Fisher's exact p" in verdict.sentence
    )


def test_fisher_exact_p_matches_the_hypergeometric_tail():
    from resources.results.sweep_winner import fisher_greater_p

    assert fisher_greater_p(16, 16, 9, 16) < 0.01
    assert fisher_greater_p(16, 16, 13, 16) > 0.05
    assert abs(fisher_greater_p(3, 3, 0, 3) - 0.05) < 1e-12  # 1 / C(6, 3)
