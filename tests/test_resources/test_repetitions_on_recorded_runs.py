"""``repeat: N`` on recorded real runs (tests/fixtures/bench_history/: vLLM's CPU build serving the
tiny model on this 2-core host). Three recorded runs stand for three repetitions of one load point
in one run, stored as the pipeline stores them; the report and the regression rule see one result."""

from __future__ import annotations

import re
from datetime import timedelta

import numpy as np

from resources.config.models import RegressionPolicy
from resources.report.build import build_report
from resources.report.data import load_comparison, pareto_points
from resources.results.bench_json import parse_bench_result, parse_request_rows
from resources.results.recorded import HARDWARE, SCENARIO, START, plant_slowdown, record_history
from resources.results.regression import SLOWER, TOO_NOISY, judge_recorded, load_history
from resources.results.repetitions import combine_repetitions, repetition_row
from resources.results.store import ResultsStore
from resources.results.validity import judge_validity
from tests.test_resources.test_verdicts_on_recorded_runs import QUIET, WARM, _valid

POLICY = RegressionPolicy()
# Valid recorded runs outside the baseline stretch: the repetitions of tonight's run.
SPARE = [raw for raw in WARM if _valid(raw) and not any(raw is q for q in QUIET)]


def record_repeated(
    store: ResultsStore,
    raws: list[dict],
    *,
    partition: str,
    run_id: str,
    finished_at,
    vllm_version: str = "0.32.0+cpu",
    price: float | None = None,
) -> dict:
    """One run whose load point was measured once per recorded result, stored as the pipeline does."""
    rows, requests = [], []
    for k, raw in enumerate(raws, start=1):
        parsed, point_requests = parse_bench_result(raw), parse_request_rows(raw)
        validity = judge_validity(parsed, point_requests, raw.get("host_usage"))
        rows.append(
            {
                "run_id": run_id,
                "partition": partition,
                "scenario": SCENARIO,
                **parsed,
                "scenario_group": SCENARIO,
                "input_len": 128,
                "output_len": 64,
                "num_prompts": raw.get("num_prompts"),
                "metric_definitions": "vllm",
                "seed": k,
                **validity.as_row(),
            }
        )
        requests.append(
            [
                {"run_id": run_id, "partition": partition, "scenario": SCENARIO, "repetition": k, **r}
                for r in point_requests
            ]
        )
    combined = combine_repetitions(rows, requests)
    run = {
        "run_id": run_id,
        "partition": partition,
        "status": "succeeded",
        "started_at": finished_at,
        "finished_at": finished_at,
        "hardware_model": HARDWARE,
        "hardware_fingerprint": "recorded",
        "image_ref": "vllm-cpu",
        "image_digest": "local:vllm-cpu",
        "vllm_version": vllm_version,
        "weights_revision": "generated",
        "config_hash": "cfg",
        "device": "cpu",
        "model_id": "tiny",
        "gpu_count": 0,
        "tensor_parallel_size": 1,
        "origin": "pipeline",
        "price_per_hour_usd": price,
    }
    store.record_run(
        run,
        [combined],
        [r for rep in requests for r in rep],
        [repetition_row(row, k) for k, row in enumerate(rows, start=1)],
    )
    return combined


def _tonight(tmp_path, slowdowns):
    store = ResultsStore(tmp_path / "results.duckdb")
    record_history(store, QUIET[:-1], "p")
    # Tonight's repetitions: the quiet stretch's last three runs again, slowed as planted (the
    # baseline runs are real, the slowdown is planted, so whether it is called depends on the rule).
    reps = [plant_slowdown(raw, s) if s else raw for raw, s in zip(QUIET[-1:-4:-1], slowdowns)]
    combined = record_repeated(
        store,
        reps,
        partition="p",
        run_id="tonight",
        vllm_version="0.33.0+cpu",
        finished_at=START + timedelta(days=len(QUIET)),
    )
    verdicts = {v.metric: v for v in judge_recorded(store, "p", "tonight", POLICY.thresholds, POLICY.window).verdicts}
    return combined, verdicts


def test_three_repetitions_are_one_result_with_every_request_and_every_repetition_kept(tmp_path):
    store = ResultsStore(tmp_path / "results.duckdb")
    reps = SPARE[:3]
    combined = record_repeated(store, reps, partition="p", run_id="r1", finished_at=START, price=0.40)

    results = store.query("SELECT * FROM benchmark_results")
    assert len(results) == 1 and results.iloc[0]["scenario"] == SCENARIO  # the scenario keeps its name
    assert results.iloc[0]["output_throughput"] == np.median([raw["output_throughput"] for raw in reps])
    repetitions = store.query("SELECT repetition, output_throughput FROM benchmark_repetitions ORDER BY repetition")
    assert list(repetitions["repetition"]) == [1, 2, 3]
    assert list(repetitions["output_throughput"]) == [raw["output_throughput"] for raw in reps]
    per_rep = store.query("SELECT repetition, count(*) AS n FROM benchmark_requests GROUP BY 1 ORDER BY 1")
    assert list(per_rep["n"]) == [len(raw["ttfts"]) for raw in reps]

    # The regression rule and the report read the requests of all repetitions pooled.
    connection = store.connect_read_only()
    try:
        _, values = load_history(connection, "p")
    finally:
        connection.close()
    pooled = values[("p", "r1", SCENARIO)]["ttft_ms"]
    assert len(pooled) == sum(len(raw["ttfts"]) for raw in reps)
    assert combined["median_ttft_ms"] == np.median(pooled)

    latest = load_comparison(store).latest
    assert len(latest) == 1 and list(pareto_points(latest)["partition"]) == ["p"]
    row = latest.iloc[0]
    assert row["output_throughput_low"] < row["output_throughput"] < row["output_throughput_high"]


def test_the_latest_results_table_shows_the_interval_and_the_cost_or_a_dash_without_a_price(tmp_path):
    store = ResultsStore(tmp_path / "results.duckdb")
    priced = record_repeated(store, SPARE[:3], partition="priced", run_id="r1", finished_at=START, price=0.40)
    record_history(store, SPARE[3:4], "unpriced")
    markdown = build_report(store, tmp_path / "report").markdown_path.read_text()
    rows = _table_rows(markdown[markdown.index("## Latest results") :])
    low, mid, high = (
        f"{priced[c]:,.1f}" for c in ("output_throughput_low", "output_throughput", "output_throughput_high")
    )
    assert rows["priced"]["output tok/s"] == f"{mid} ({low}-{high})"
    assert rows["priced"]["runs"] == "3"
    # 0.40 USD an hour for the host over its output per hour: about 0.04 USD on this tiny model
    assert rows["priced"]["$ / M output tok"] == f"{0.40 / (priced['output_throughput'] * 3600) * 1e6:.4f}"
    assert rows["unpriced"]["output tok/s"] == f"{SPARE[3]['output_throughput']:,.1f}"  # one run: no interval
    assert rows["unpriced"]["runs"] == "1"
    assert rows["unpriced"]["$ / M output tok"] == "–"  # no price, no figure
    # Latencies carry their bootstrap interval over the per-request rows, all repetitions pooled.
    for deployment in ("priced", "unpriced"):
        mid, low, high = (
            float(x.replace(",", ""))
            for x in re.fullmatch(r"([\d.,]+) \(([\d.,]+)-([\d.,]+)\)", rows[deployment]["TPOT median ms"]).groups()
        )
        assert low <= mid <= high and low < high


def _table_rows(markdown: str) -> dict[str, dict[str, str]]:
    """The first markdown table's rows by their first cell, each as {header: cell}."""
    lines = markdown[markdown.index("\n|") + 1 :].split("\n\n")[0].splitlines()
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    header, body = cells[0], [c for c in cells[2:]]
    return {c[0]: dict(zip(header, c)) for c in body}


def test_a_slowdown_in_every_repetition_is_called_and_names_the_new_vllm(tmp_path):
    combined, verdicts = _tonight(tmp_path, [0.60, 0.60, 0.60])
    throughput = verdicts["output_throughput"]
    assert throughput.outcome == SLOWER, throughput.describe()
    assert throughput.interval == (combined["output_throughput_low"], combined["output_throughput_high"])
    assert "vLLM version 0.32.0+cpu -> 0.33.0+cpu" in throughput.suspects


def test_a_median_slowdown_whose_interval_still_holds_the_baseline_is_not_called(tmp_path):
    # The median repetition is 60 % slower (every repetition that slow is called, above), but one
    # repetition ran at the baseline's speed: across repetitions the run cannot tell.
    combined, verdicts = _tonight(tmp_path, [0.60, 0.60, 0.0])
    throughput = verdicts["output_throughput"]
    assert throughput.change < -0.35 and abs(throughput.change) > throughput.noise
    assert combined["output_throughput_low"] <= throughput.baseline <= combined["output_throughput_high"]
    assert throughput.outcome == TOO_NOISY, throughput.describe()
