"""An SLO search's answer as one ``capacity_results`` row (pure)."""

from __future__ import annotations

import json

from resources.benchmark.capacity_search import CapacitySearch
from resources.config.models import BenchmarkScenario

CAPACITY_COLUMNS = (
    ("run_id", "VARCHAR NOT NULL"),
    ("partition", "VARCHAR NOT NULL"),
    ("scenario", "VARCHAR NOT NULL"),
    ("goal", "DOUBLE"),
    ("ttft_ms", "DOUBLE"),
    ("tpot_ms", "DOUBLE"),
    ("e2el_ms", "DOUBLE"),
    ("max_concurrency", "INTEGER"),  # the answer: the highest level that met the goal, every lower one too
    ("output_throughput", "DOUBLE"),  # at the answer's level
    ("levels", "VARCHAR"),  # JSON: each level tried, its requests meeting the SLO and sent, in order tried
    ("valid", "BOOLEAN"),  # every level measured was a valid measurement
    ("sentence", "VARCHAR"),
)


def _targets(scenario: BenchmarkScenario) -> str:
    slo = scenario.slo
    named = [(n, v) for n, v in (("TTFT", slo.ttft_ms), ("TPOT", slo.tpot_ms), ("E2EL", slo.e2el_ms)) if v]
    return " and ".join(f"{name} <= {value:g} ms" for name, value in named)


def capacity_row(
    search: CapacitySearch, scenario: BenchmarkScenario, rows: list[dict], *, run_id: str, partition: str
) -> dict:
    """``rows``: the run's result rows so far (the search's levels are ``<scenario>/c<N>``)."""
    by_level = {r["max_concurrency"]: r for r in rows if r.get("scenario_group") == scenario.name}
    answer = search.answer()
    valid = all(by_level[o.level].get("valid") is not False for o in search.outcomes if o.level in by_level)
    goal = f"{100 * search.goal:.0f} % of requests within {_targets(scenario)}"
    tried = ", ".join(f"c{o.level} {o.good}/{o.total}" for o in search.outcomes)
    if answer is None:
        sentence = f"no concurrency tried met {goal}: even {search.start} missed it ({tried})"
    else:
        sentence = f"highest concurrency meeting {goal}: {answer} (requests meeting it per level tried: {tried})"
    if not valid:
        sentence += "; INVALID: a level's measurement was not valid"
    return {
        "run_id": run_id,
        "partition": partition,
        "scenario": scenario.name,
        "goal": search.goal,
        "ttft_ms": scenario.slo.ttft_ms,
        "tpot_ms": scenario.slo.tpot_ms,
        "e2el_ms": scenario.slo.e2el_ms,
        "max_concurrency": answer,
        "output_throughput": by_level[answer]["output_throughput"] if answer in by_level else None,
        "levels": json.dumps([{"level": o.level, "good": o.good, "sent": o.total} for o in search.outcomes]),
        "valid": valid,
        "sentence": sentence,
    }
