"""The accuracy verdict: paired items, McNemar's exact test, greedy drift, the suspects, and what
noise alone makes it say."""

from __future__ import annotations

import random

import pytest

from resources.evaluation.verdict import judge_accuracy, majority_items, mcnemar_exact_p, wilson_interval

ROW = {
    "accuracy": None,
    "errors": 0,
    "items": 0,
    "weights_revision": "sha256:aaa+gguf-to-hf/1",
    "dtype": "bfloat16",
    "kv_cache_dtype": "auto",
    "vllm_version": "0.32.0",
    "image_digest": "local",
    "chat_template_sha": "t1",
    "max_tokens": 16,
}


def run(items: dict, **changes) -> dict:
    right = sum(correct for correct, _ in items.values())
    return {**ROW, "accuracy": right / len(items), "items": len(items), "run_id": changes.pop("run_id", "r"), **changes}


def answers(n: int, right: set[int], text=lambda i, ok: f"answer {i} {'ok' if ok else 'bad'}") -> dict:
    return {f"q{i}": (i in right, text(i, i in right)) for i in range(n)}


def test_the_interval_and_the_exact_test_give_the_textbook_values():
    low, high = wilson_interval(50, 100)
    assert (round(low, 4), round(high, 4)) == (0.4038, 0.5962)
    assert mcnemar_exact_p(0, 0) == 1.0
    assert mcnemar_exact_p(10, 0) == pytest.approx(2 / 1024)
    assert mcnemar_exact_p(5, 5) == 1.0
    assert mcnemar_exact_p(7, 2) == mcnemar_exact_p(2, 7) == pytest.approx(2 * 46 / 512)


def test_a_first_run_has_no_baseline_and_says_so():
    verdict = judge_accuracy(run(answers(10, {1, 2})), answers(10, {1, 2}), [])
    assert verdict.status == "no baseline" and "20.0 %" in verdict.sentence


def test_a_damaged_model_is_called_a_drop_with_the_weights_identity_as_suspect():
    before = answers(300, set(range(160)))
    now = answers(300, set(range(40, 170)))  # 40 lost, 10 gained
    verdict = judge_accuracy(run(now, weights_revision="sha256:bbb"), now, [(run(before), before)])
    assert verdict.is_drop and (verdict.lost, verdict.gained) == (40, 10)
    assert verdict.p_value < 1e-4
    assert verdict.suspects == ("weights identity: sha256:aaa+gguf-to-hf/1 -> sha256:bbb",)
    assert "accuracy DROP: accuracy 53.3 % (the last run) -> 43.3 %" in verdict.sentence


def test_greedy_drift_without_a_drop_is_reported_as_drift():
    before = answers(300, set(range(123)))
    # 37 replies reworded, and the 6 whose score changed read differently too (q0 is both): 42 changed texts
    now = {
        k: (ok, text + " (reworded)" if int(k[1:]) % 8 == 0 and int(k[1:]) < 296 else text)
        for k, (ok, text) in answers(300, set(range(4, 125))).items()
    }
    verdict = judge_accuracy(run(now, dtype="float32"), now, [(run(before), before)])
    assert verdict.status == "within noise" and not verdict.is_drop
    assert verdict.changed_texts == 42 and (verdict.lost, verdict.gained) == (4, 2)
    assert verdict.sentence.startswith(
        "42 of 300 greedy answers changed since the last run; accuracy 41.0 % (the last run) -> 40.3 %, within noise"
    )
    assert verdict.suspects == ("dtype: bfloat16 -> float32",)


def test_one_bad_night_neither_hides_the_next_drop_nor_makes_the_recovery_a_gain():
    good = answers(300, set(range(150)))
    bad = answers(300, set(range(60, 150)))
    history = [(run(bad, run_id="bad"), bad), (run(good, run_id="g2"), good), (run(good, run_id="g1"), good)]
    assert majority_items([items for _, items in history]) == {k: (v[0], bad[k][1]) for k, v in good.items()}
    recovered = judge_accuracy(run(good), good, history)
    assert recovered.status == "within noise" and (recovered.lost, recovered.gained) == (0, 0)
    assert "the majority of the last 3 runs" in recovered.sentence


def test_a_run_whose_requests_failed_is_invalid_never_a_drop():
    now = answers(10, set())
    verdict = judge_accuracy(run(now, errors=3), now, [(run(answers(10, set(range(10)))), answers(10, set(range(10))))])
    assert verdict.status == "invalid" and "3 of 10 requests failed" in verdict.sentence


def test_noise_alone_calls_a_drop_in_fewer_than_alpha_of_unchanged_reruns():
    """An unchanged deployment whose greedy answers wobble (each item's score flips with some
    probability, either way) must be called a drop in at most alpha of the reruns."""
    rng = random.Random(7)
    trials, drops, gains = 2000, 0, 0
    for _ in range(trials):
        flip = rng.choice((0.01, 0.03, 0.08))
        before = {f"q{i}": (rng.random() < 0.53, "") for i in range(299)}
        now = {k: ((not ok) if rng.random() < flip else ok, "") for k, (ok, _) in before.items()}
        verdict = judge_accuracy(run(now), now, [(run(before), before)], alpha=0.05)
        drops += verdict.is_drop
        gains += verdict.status == "gain"
    assert drops / trials <= 0.05 and gains / trials <= 0.05
    print(f"false drops {drops}/{trials}, false gains {gains}/{trials}")
