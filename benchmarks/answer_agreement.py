"""How far two evaluations of the same set agree: the greedy texts, the scores, the paired verdict.

Each side is a results database and a partition (its latest evaluation there), e.g. the CPU build on
this host against a GPU host's results file brought back:

    .venv/bin/python benchmarks/answer_agreement.py .eval/results.duckdb:smollm2-cpu gpu/results.duckdb:smollm2-gpu

prints the share of identical greedy replies, of identical scores, both accuracies with their 95 %
intervals, and what the accuracy verdict would say of the second against the first.
"""

from __future__ import annotations

import argparse
import sys

import duckdb

from resources.evaluation.verdict import judge_accuracy, wilson_interval


def latest_evaluation(source: str) -> tuple[dict, dict]:
    path, _, partition = source.rpartition(":")
    if not path:
        raise SystemExit(f"{source}: write DATABASE:PARTITION, e.g. .eval/results.duckdb:smollm2-cpu")
    db = duckdb.connect(path, read_only=True)
    found = db.execute(
        "SELECT * FROM accuracy_runs WHERE partition = ? ORDER BY recorded_at DESC LIMIT 1", [partition]
    ).fetchdf()
    if found.empty:
        raise SystemExit(f"{path}: no evaluation of partition '{partition}'")
    run = found.iloc[0].to_dict()
    items = {
        i: (bool(c), r or "")
        for i, c, r in db.execute(
            "SELECT item_id, correct, reply FROM accuracy_items WHERE run_id = ? AND partition = ?",
            [run["run_id"], partition],
        ).fetchall()
    }
    return run, items


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first", help="DATABASE:PARTITION, the reference")
    parser.add_argument("second", help="DATABASE:PARTITION, judged against the first")
    args = parser.parse_args(argv)
    (run_a, a), (run_b, b) = latest_evaluation(args.first), latest_evaluation(args.second)
    if run_a["eval_set_sha"] != run_b["eval_set_sha"]:
        print("the two evaluations used different sets (sha256 differs): not comparable", file=sys.stderr)
        return 1
    shared = sorted(set(a) & set(b))
    for name, run in ((args.first, run_a), (args.second, run_b)):
        low, high = wilson_interval(int(run["correct"]), int(run["items"]))
        print(
            f"{name}: {run['correct']}/{run['items']} = {100 * run['accuracy']:.1f} % "
            f"(95 % interval {100 * low:.1f}-{100 * high:.1f} %), vLLM {run['vllm_version']}, {run['hardware_model']}"
        )
    same_text = sum(a[i][1] == b[i][1] for i in shared)
    same_score = sum(a[i][0] == b[i][0] for i in shared)
    print(f"identical greedy replies: {same_text} of {len(shared)} ({100 * same_text / len(shared):.0f} %)")
    print(f"identical scores:         {same_score} of {len(shared)} ({100 * same_score / len(shared):.0f} %)")
    verdict = judge_accuracy({**run_b, "errors": 0}, b, [(run_a, a)])
    print(f"verdict of the second against the first: {verdict.status}: {verdict.sentence}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
