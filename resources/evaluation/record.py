"""One evaluation from server to verdict: run the set, record every item, judge against the earlier
run. The asset ``answer_accuracy`` is wiring around ``evaluate_and_judge``."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from resources.config.models import Deployment
from resources.evaluation.chat_template import chat_template_sha
from resources.evaluation.eval_set import load_eval_set
from resources.evaluation.runner import EvalOutcome, run_eval_set
from resources.evaluation.verdict import AccuracyVerdict, judge_accuracy, wilson_interval
from resources.hardware.snapshot import HardwareSnapshot
from resources.results.run_record import hardware_model
from resources.runtime.values import ImageInfo, ServiceInfo
from resources.weights.fetch import Weights

RANDOM_WEIGHTS = "n/a: random weights"
NOT_CONFIGURED = "n/a: no evaluation set configured"
SAMPLE_REPLIES = 12


def accuracy_not_measured(deployment: Deployment) -> str | None:
    """Why this deployment has no accuracy, or None when it is measured."""
    if deployment.random_weights:
        return RANDOM_WEIGHTS
    if deployment.spec.accuracy is None:
        return NOT_CONFIGURED
    return None


@dataclass(frozen=True)
class Evaluated:
    row: dict
    outcome: EvalOutcome
    verdict: AccuracyVerdict

    @property
    def category_table(self) -> str:
        totals, right = Counter(), Counter()
        for item in self.outcome.items:
            totals[item.category] += 1
            right[item.category] += item.correct
        return "| category | right | items |\n| --- | --- | --- |\n" + "\n".join(
            f"| {name} | {right[name]} | {totals[name]} |" for name in sorted(totals)
        )

    @property
    def sample_table(self) -> str:
        """The first replies, to read what the model says without opening DuckDB."""

        def cell(text: str) -> str:
            return text.replace("|", "/").replace("\n", " ")[:80]

        return "| item | right | reply |\n| --- | --- | --- |\n" + "\n".join(
            f"| {item.item_id} | {'yes' if item.correct else 'no'} | {cell(item.error or item.text)} |"
            for item in self.outcome.items[:SAMPLE_REPLIES]
        )


def accuracy_row(
    *,
    run_id: str,
    deployment: Deployment,
    eval_name: str,
    eval_sha: str,
    outcome: EvalOutcome,
    hardware: HardwareSnapshot,
    image: ImageInfo,
    weights: Weights,
    service: ServiceInfo,
) -> dict:
    """The ``accuracy_runs`` row before judging: the score and everything the answers depend on."""
    items, correct = len(outcome.items), outcome.correct
    low, high = wilson_interval(correct, items)
    return {
        "run_id": run_id,
        "partition": deployment.key,
        "eval_set": eval_name,
        "eval_set_sha": eval_sha,
        "items": items,
        "correct": correct,
        "errors": outcome.errors,
        "accuracy": correct / items if items else None,
        "accuracy_low": low,
        "accuracy_high": high,
        "seconds": round(outcome.seconds, 2),
        "hardware_model": hardware_model(deployment, hardware),
        "hardware_fingerprint": hardware.fingerprint,
        "weights_source": weights.source,
        "weights_revision": weights.revision,
        "dtype": deployment.params.dtype,
        "kv_cache_dtype": deployment.params.kv_cache_dtype,
        "vllm_version": image.vllm_version,
        "image_ref": image.image_ref,
        "image_digest": image.image_digest,
        "chat_template_sha": chat_template_sha(weights.path, service.serve_args),
        "max_tokens": deployment.spec.accuracy.max_tokens,
        "config_hash": service.config_hash,
    }


def evaluate_and_judge(
    *,
    store,
    run_id: str,
    deployment: Deployment,
    config_root: Path,
    hardware: HardwareSnapshot,
    image: ImageInfo,
    weights: Weights,
    service: ServiceInfo,
    api_key: str | None,
    on_progress: Callable[[str], None],
) -> Evaluated:
    policy = deployment.spec.accuracy
    eval_set = load_eval_set(policy.eval_set, config_root)
    on_progress(
        f"evaluation set '{eval_set.name}': {len(eval_set.items)} items (sha256 {eval_set.sha256[:12]}), "
        f"temperature 0, max_tokens {policy.max_tokens}, {policy.concurrency} at a time"
    )
    outcome = run_eval_set(
        service.base_url,
        service.served_model_name,
        eval_set,
        policy.max_tokens,
        policy.concurrency,
        api_key,
        on_progress,
    )
    row = accuracy_row(
        run_id=run_id,
        deployment=deployment,
        eval_name=eval_set.name,
        eval_sha=eval_set.sha256,
        outcome=outcome,
        hardware=hardware,
        image=image,
        weights=weights,
        service=service,
    )
    history = store.accuracy_history(deployment.key, row["hardware_model"], eval_set.sha256, run_id, policy.window)
    current_items = {item.item_id: (item.correct, item.text) for item in outcome.items}
    verdict = judge_accuracy(row, current_items, history, policy.alpha)
    row |= verdict.as_row()
    store.record_accuracy(
        row,
        [
            {
                "item_id": item.item_id,
                "category": item.category,
                "correct": item.correct,
                "extracted": item.extracted,
                "reply": item.text,
                "completion_tokens": item.completion_tokens,
                "error": item.error,
            }
            for item in outcome.items
        ],
    )
    on_progress(
        f"accuracy {row['correct']}/{row['items']} = {100 * row['accuracy']:.1f} % "
        f"(95 % interval {100 * row['accuracy_low']:.1f}-{100 * row['accuracy_high']:.1f} %) "
        f"in {outcome.seconds:.1f} s"
    )
    return Evaluated(row, outcome, verdict)
