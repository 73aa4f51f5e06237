"""The accuracy verdict: did the answers get worse than on the deployment's earlier run? (pure)

The discipline is the speed verdicts': the baseline is the same deployment's recent valid runs on
the same hardware model and the same items, whatever else changed, and what changed since the
latest of them is the list of suspects. Per item the baseline is the majority of those runs (the
latest breaks a tie), as the speed rule takes the median of its window: one bad night neither
hides the next one's drop nor turns a recovery into a "gain", and a change that persists becomes
the baseline once it holds the majority. Accuracies from two runs are not compared as two numbers: the items
are paired. An item
right before and wrong now is evidence of a drop, one wrong before and right now of a gain, and
McNemar's exact test asks whether the lost items outnumber the gained ones beyond what chance would
give (a two-sided binomial test on the discordant pairs). Greedy drift, answers whose text changed,
is reported on its own: a vLLM upgrade or a dtype change moves some greedy texts while accuracy
holds, and that is drift, not a drop.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

# What a change in any of these can do to the answers; compared between the run and its baseline.
SUSPECT_FIELDS = {
    "weights_revision": "weights identity",
    "dtype": "dtype",
    "kv_cache_dtype": "KV-cache dtype",
    "vllm_version": "vLLM version",
    "image_digest": "image",
    "chat_template_sha": "chat template",
    "max_tokens": "max_tokens",
}


@dataclass(frozen=True)
class AccuracyVerdict:
    status: str  # "drop", "gain", "within noise", "no baseline", "invalid"
    sentence: str
    baseline_run_id: str | None = None
    baseline_accuracy: float | None = None
    paired_items: int = 0
    lost: int = 0  # right in the baseline, wrong now
    gained: int = 0  # wrong in the baseline, right now
    changed_texts: int = 0  # greedy drift: items whose reply text changed
    p_value: float | None = None
    suspects: tuple[str, ...] = ()
    baseline_runs: int = 0

    def as_row(self) -> dict:
        """The verdict's columns of ``accuracy_runs``."""
        return {
            "verdict": self.status,
            "verdict_sentence": self.sentence,
            "baseline_run_id": self.baseline_run_id,
            "paired_items": self.paired_items,
            "lost": self.lost,
            "gained": self.gained,
            "changed_texts": self.changed_texts,
            "p_value": self.p_value,
            "suspects": json.dumps(list(self.suspects)),
        }

    @property
    def is_drop(self) -> bool:
        return self.status == "drop"


def wilson_interval(correct: int, total: int, z: float = 1.959964) -> tuple[float, float]:
    """95 % interval of a proportion (Wilson's score interval: sound near 0 and 1 and for small n)."""
    if total == 0:
        return (math.nan, math.nan)
    p = correct / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def mcnemar_exact_p(lost: int, gained: int) -> float:
    """Two-sided exact McNemar p-value: under no change each discordant item is lost or gained with
    probability one half."""
    n = lost + gained
    if n == 0:
        return 1.0
    k = min(lost, gained)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


Items = dict[str, tuple[bool, str]]  # item id -> (correct, greedy text)


def majority_items(history: list[Items]) -> Items:
    """Per item, right when most of the runs (latest first) had it right, the latest breaking a
    tie; the text is the latest run's."""
    merged: Items = {}
    for item_id in set().union(*history) if history else ():
        votes = [run[item_id][0] for run in history if item_id in run]
        right, wrong = sum(votes), len(votes) - sum(votes)
        latest = next(run[item_id] for run in history if item_id in run)
        merged[item_id] = (latest[0] if right == wrong else right > wrong, latest[1])
    return merged


def judge_accuracy(
    current: dict, current_items: Items, history: list[tuple[dict, Items]], alpha: float = 0.05
) -> AccuracyVerdict:
    """``current``: the run's accuracy row (accuracy, errors, provenance fields); ``history``: the
    baseline runs' rows and items, latest first."""
    accuracy = current["accuracy"]
    if current.get("errors"):
        return AccuracyVerdict(
            "invalid",
            f"{current['errors']} of {current['items']} requests failed: not an "
            "accuracy measurement; left out of every baseline",
        )
    if not history:
        return AccuracyVerdict(
            "no baseline",
            f"accuracy {_pct(accuracy)}; no earlier valid run of this deployment "
            "on this hardware model with these items to compare with",
        )
    latest = history[0][0]
    baseline_items = majority_items([items for _, items in history])
    shared = sorted(set(current_items) & set(baseline_items))
    lost = sum(1 for i in shared if baseline_items[i][0] and not current_items[i][0])
    gained = sum(1 for i in shared if current_items[i][0] and not baseline_items[i][0])
    changed = sum(1 for i in shared if baseline_items[i][1] != current_items[i][1])
    p = mcnemar_exact_p(lost, gained)
    suspects = tuple(
        f"{label}: {latest.get(key)} -> {current.get(key)}"
        for key, label in SUSPECT_FIELDS.items()
        if latest.get(key) != current.get(key)
    )
    baseline_accuracy = sum(baseline_items[i][0] for i in shared) / len(shared) if shared else None
    runs = "the last run" if len(history) == 1 else f"the majority of the last {len(history)} runs"
    move = f"accuracy {_pct(baseline_accuracy)} ({runs}) -> {_pct(accuracy)}"
    evidence = f"{lost} lost, {gained} gained, McNemar p = {p:.3g}"
    drift = f"{changed} of {len(shared)} greedy answers changed since the last run"
    if p < alpha and lost > gained:
        status, sentence = "drop", f"accuracy DROP: {move} ({evidence}); {drift}"
        if suspects:
            sentence += "; what changed: " + "; ".join(suspects)
        else:
            sentence += "; nothing recorded changed (look at the host and the server's log)"
    elif p < alpha and gained > lost:
        status, sentence = "gain", f"accuracy gain: {move} ({evidence}); {drift}"
    else:
        status, sentence = "within noise", f"{drift}; {move}, within noise ({evidence})"
    return AccuracyVerdict(
        status,
        sentence,
        latest.get("run_id"),
        baseline_accuracy,
        len(shared),
        lost,
        gained,
        changed,
        p,
        suspects,
        len(history),
    )


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f} %"
