"""The report's content as sections of text, tables and charts, shared by the markdown and HTML
renderers (pure: ComparisonData in, display-ready frames out).

It answers, in this order: how well each deployment answers beside how fast it is, which
parameter set is best on this host, did the last run get slower (and did anything that a replay
must reproduce change), how far each result is from the memory-bandwidth bound, and how each
deployment's history looks.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field

import pandas as pd

from resources.figures import DASH, figure, missing, number
from resources.report.data import (
    DRIFT_FIELDS,
    ComparisonData,
    best_by_scenario,
    conversation_turns,
    invalid_results,
    records,
    sweeps,
    valid_results,
)
from resources.results import regression
from resources.results.cost import usd_per_million_output_tokens
from resources.results.startup import cache_state
from resources.results.validity import reason_names

DRIFT_NAMES = {
    "image_digest": "image digest",
    "weights_revision": "weights revision",
    "config_hash": "config hash",
    "vllm_version": "vLLM version",
    "hardware_fingerprint": "hardware",
}
METRIC_NOTE = (
    "Metric definitions are vLLM's (`vllm bench serve`): TTFT is the time to the first streamed "
    "chunk, TPOT excludes the first token ((latency - TTFT) / (output tokens - 1) per request), "
    "ITL is the gaps between chunks pooled over requests. Interactivity = 1000 / median TPOT ms "
    "(tokens/s each user sees)."
)


@dataclass
class Table:
    frame: pd.DataFrame  # strings, ready to print
    caption: str = ""
    # Full texts that cells point to with "[1]", "[2]"...: shown below the table (see ``footnote``).
    footnotes: list[str] = field(default_factory=list)


def footnote(notes: list[str], text: str) -> str:
    """The marker of ``text`` among a table's footnotes, "[n]"; the same text keeps its number."""
    if text not in notes:
        notes.append(text)
    return f"[{notes.index(text) + 1}]"


def invalid_reason(text, notes: list[str]) -> str:
    """An invalid result's reasons, once and short ("stream coalesced [1]"), the full text a footnote."""
    if not has(text):
        return "not recorded"
    return f"{', '.join(reason_names(str(text)))} {footnote(notes, str(text))}"


@dataclass
class Section:
    title: str
    paragraphs: list[str] = field(default_factory=list)  # light markdown: `code`, **bold**
    tables: list[Table] = field(default_factory=list)
    chart: str | None = None  # key of a chart image: "pareto", "sweeps" or "trend" (charts.draw_charts)
    chart_alt: str = ""
    level: int = 2


def num(value, digits: int = 1) -> str:
    return figure(value, f",.{digits}f")


def sig(value) -> str:
    """Three significant digits: 3.3, 0.000488 (the tiny CPU model), 235."""
    return figure(value, ".3g")


def when(value) -> str:
    return DASH if missing(value) else pd.Timestamp(value).strftime("%Y-%m-%d %H:%M")


def short(value, length: int = 12) -> str:
    if missing(value):
        return DASH
    text = str(value).removeprefix("sha256:")
    return text if len(text) <= length else text[:length] + "…"


def has(value) -> bool:
    return not missing(value) and value != ""


def drift_list(row: dict) -> list[str]:
    """What a replay should have reproduced but did not, against the previous run."""
    if not has(row.get("prev_run_id")):
        return []
    changed = []
    for name in DRIFT_FIELDS:
        now, before = row.get(name), row.get(f"prev_{name}")
        now = None if missing(now) else str(now)
        before = None if missing(before) else str(before)
        if now != before:
            changed.append(f"{DRIFT_NAMES[name]} {short(before)} → {short(now)}")
    return changed


def slower_count(latest: pd.DataFrame) -> int:
    """Latest results the regression rule calls slower (the same rule as the no_regression check)."""
    return 0 if latest.empty or "verdict" not in latest else int((latest["verdict"] == regression.SLOWER).sum())


def accuracy_drop_count(accuracy: pd.DataFrame) -> int:
    """Deployments whose latest evaluation the accuracy verdict calls a drop."""
    return 0 if accuracy.empty else int((accuracy["verdict"] == "drop").sum())


def build_sections(data: ComparisonData, charts: set[str], accuracy_na: dict[str, str] | None = None) -> list[Section]:
    """The report; ``charts`` names the charts that were drawn (others are left out);
    ``accuracy_na`` maps a partition to why it has no accuracy ("n/a: random weights"), from
    the deployments' configs: that reason is shown, never a score."""
    accuracy_na = accuracy_na or {}
    if data.empty:
        empty = [
            Section(
                "Comparison of deployments",
                ["No benchmark results recorded yet: materialize benchmark_results for a partition first."],
                level=1,
            )
        ]
        return empty + ([_answers(data, accuracy_na)] if not data.accuracy.empty else [])
    latest = data.latest
    runs_total = int(data.run_counts["runs"].sum()) if not data.run_counts.empty else 0
    hosts = latest["hardware_fingerprint"].nunique(dropna=True)
    sections = [
        Section(
            "Comparison of deployments",
            [
                f"Generated {data.generated_at:%Y-%m-%d %H:%M} UTC from {runs_total} recorded runs of "
                f"{latest['partition'].nunique()} deployments on {hosts} host fingerprint(s). Each deployment's latest "
                "succeeded run per scenario is compared; history shows each deployment's last "
                f"{data.history_runs} runs.",
            ],
            level=1,
        )
    ]
    sections += [
        _answers(data, accuracy_na),
        *(
            _which_is_best(summary, "parameter_sweeps" in charts and index == 0)
            for index, summary in enumerate(data.parameter_sweeps)
        ),
        _best(latest),
        _last_run(latest, data.verdicts),
        _validity(latest),
        _latest_tables(latest),
        _roofline(latest),
    ]
    if "pareto" in charts:
        sections.append(_pareto(latest))
    if "sweeps" in charts:
        sections.append(_sweeps(latest))
    if not conversation_turns(latest).empty:
        sections.append(_turns(latest, "turns" in charts))
    if not data.requests.empty:
        sections.append(_requests(data.requests))
    if not data.starts.empty:
        sections.append(_startup(data.starts))
    sections += [_history(data, "trend" in charts, accuracy_na), _drift(data)]
    sections.append(Section("Notes", [METRIC_NOTE]))
    return sections


# The accuracy verdicts (resources/evaluation/verdict.py) and the speed outcomes, worst first.
ACCURACY_ORDER = ("drop", "invalid", "gain", "within noise", "no baseline")
SPEED_ORDER = (
    regression.INVALID,
    regression.SLOWER,
    regression.FASTER,
    regression.TOO_NOISY,
    regression.WITHIN_NOISE,
    regression.NOT_MEASURED,
    regression.NO_BASELINE,
)
NOT_EVALUATED = "not evaluated yet"


def _answers(data: ComparisonData, accuracy_na: dict[str, str]) -> Section:
    """Per deployment: its latest accuracy, verdict and greedy drift beside its latest speed."""
    latest, accuracy = data.latest, data.accuracy
    evaluations = {} if accuracy.empty else {row["partition"]: row for row in records(accuracy)}
    speed = {} if latest.empty else {p: g for p, g in latest.groupby("partition", sort=False)}
    rows = []
    for partition in sorted(set(speed) | set(evaluations)):
        reason = accuracy_na.get(partition)
        # The configs' word wins: a random-weight model shows why, never a score.
        row = {} if reason else evaluations.get(partition, {})
        rows.append(
            {
                "deployment": partition,
                "accuracy (95 % interval)": accuracy_text(row) if row else reason or NOT_EVALUATED,
                **_accuracy_cells(row),
                **_speed_cells(speed.get(partition)),
            }
        )
    frame = pd.DataFrame(rows)
    verdicts = Counter(row["verdict"] for partition, row in evaluations.items() if partition not in accuracy_na)
    summary = f"{sum(verdicts.values())} of {len(frame)} deployments evaluated"
    if verdicts:
        summary += ": " + ", ".join(f"{verdicts[v]} {v}" for v in ACCURACY_ORDER if verdicts[v])
    summary += "."
    without: dict[str, list[str]] = {}
    for partition in frame["deployment"]:
        if partition in accuracy_na:
            without.setdefault(accuracy_na[partition].removeprefix("n/a: "), []).append(f"`{partition}`")
    summary += "".join(f" No accuracy ({why}): {', '.join(names)}." for why, names in sorted(without.items()))
    text = [
        "How well each deployment answers beside how fast it is. Accuracy is the share of its evaluation "
        "set answered right at temperature 0 (`answer_accuracy`), with its 95 % Wilson interval. Its verdict "
        "is the accuracy_no_drop check's (`resources/evaluation/verdict.py`): the items are paired with the "
        "deployment's earlier runs on the same hardware model, and a drop or gain is called only when McNemar's "
        "exact test says the lost items outnumber the gained ones (or the reverse) beyond chance. Greedy drift, "
        "answers whose text changed, is counted on its own: a dtype or vLLM change moves some texts while the "
        "accuracy holds. What changed is each suspect against the latest baseline run. The speed columns "
        "summarise the latest results below.",
        summary,
    ]
    return Section("Answers beside speed", text, [Table(frame)])


def accuracy_text(row: dict) -> str:
    """ "53.2 % (47.5–58.8)": the accuracy and its 95 % interval, in percent."""
    value, low, high = (number(row.get(k)) for k in ("accuracy", "accuracy_low", "accuracy_high"))
    if value is None:
        return DASH
    text = f"{100 * value:.1f} %"
    return text if low is None or high is None else f"{text} ({100 * low:.1f}–{100 * high:.1f})"


def _accuracy_cells(row: dict) -> dict[str, str]:
    """The evaluation's verdict in short: what it says, the greedy drift, the suspects."""
    verdict = row.get("verdict")
    cells = {
        "right": DASH,
        "answers verdict": DASH,
        "greedy drift": DASH,
        "what changed": DASH,
        "evaluated (UTC)": DASH,
    }
    if not row:
        return cells
    cells["right"] = f"{num0(row.get('correct'))} of {num0(row.get('items'))} ({row.get('eval_set') or '?'})"
    cells["evaluated (UTC)"] = when(row.get("recorded_at"))
    if verdict == "invalid":
        cells["answers verdict"] = f"invalid: {num0(row.get('errors'))} of {num0(row.get('items'))} requests failed"
        return cells
    if verdict == "no baseline" or not has(row.get("paired_items")):
        cells["answers verdict"] = "no baseline (the first evaluation on this hardware model)"
        return cells
    evidence = (
        f"{num0(row.get('lost'))} lost, {num0(row.get('gained'))} gained, p = {figure(row.get('p_value'), '.3g')}"
    )
    cells["answers verdict"] = f"**{verdict}** ({evidence})" if verdict == "drop" else f"{verdict} ({evidence})"
    cells["greedy drift"] = f"{num0(row.get('changed_texts'))} of {num0(row.get('paired_items'))} answers changed"
    suspects = [short_suspect(s) for s in json.loads(row["suspects"])] if has(row.get("suspects")) else []
    cells["what changed"] = "; ".join(suspects) or "nothing recorded"
    return cells


def short_suspect(text: str) -> str:
    """ "weights identity: sha256:0f3a…+gguf 1 -> sha256:9bc2…" with each side cut to a few characters."""
    match = re.fullmatch(r"(.*?): (.*) -> (.*)", text)
    if not match:
        return text
    label, before, after = match.groups()
    return f"{label} {short(before)} → {short(after)}"


def _speed_cells(results: pd.DataFrame | None) -> dict[str, str]:
    """The deployment's latest speed results in one row: their verdicts, how many are valid, the best."""
    if results is None:
        return {
            "speed verdicts": DASH,
            "valid speed results": DASH,
            "most output tok/s": DASH,
            "lowest median TPOT ms": DASH,
        }
    counts = Counter(results["verdict"]) if "verdict" in results else Counter()
    verdicts = ", ".join(f"{counts[v]} {v}" for v in SPEED_ORDER if counts[v])
    valid = valid_results(results)
    output = pd.to_numeric(valid["output_throughput"], errors="coerce")
    measured = valid[valid["stream_measured"].astype(object).ne(False)] if "stream_measured" in valid else valid
    tpot = pd.to_numeric(measured["median_tpot_ms"], errors="coerce")
    return {
        "speed verdicts": f"**{verdicts}**" if counts[regression.SLOWER] else verdicts or DASH,
        "valid speed results": f"{len(valid)} of {len(results)}",
        "most output tok/s": DASH
        if output.isna().all()
        else f"{num(output.max())} ({valid.loc[output.idxmax(), 'scenario']})",
        "lowest median TPOT ms": DASH
        if tpot.isna().all()
        else f"{num(tpot.min(), 2)} ({measured.loc[tpot.idxmin(), 'scenario']})",
    }


def _which_is_best(summary, with_chart: bool) -> Section:
    """A sweep's points side by side and, per objective, the winner against the runner-up with its
    interval, or a tie within noise (resources/results/sweep_winner.py)."""
    points = summary.points
    if points.empty:
        frame = pd.DataFrame()
    else:
        frame = pd.DataFrame(
            {"point": points["label"], "latest run": points["run_id"].map(short), "runs pooled": points["runs pooled"]}
        )
    for column in points.columns:
        if column.endswith(("tok/s per host", "tok/s per GPU")):
            frame[column] = points[column].map(num)
        elif column.endswith("TPOT ms"):
            frame[column] = points[column].map(lambda v: num(v, 2))
        elif column.endswith("under SLO"):
            frame[column] = points[column].fillna(DASH)
    verdicts = [f"**{v.objective}**: {v.sentence}" for v in summary.verdicts]
    verdicts += [
        f"**FAILED**, left out of the comparison: `{point}`: {error}" for point, error in summary.failed.items()
    ]
    return Section(
        f"Which parameter set is best: sweep {summary.name}",
        [
            f"{len(points)} points, each its latest succeeded run. Throughput and TPOT are geometric means over "
            "the valid repetitions of the point's recent runs of the same server; the winner beats the runner-up "
            "only when the whole 95 % interval of their ratio lies above +5 % (Welch's t on the logarithms; the "
            "margin covers what changes between server starts). The capacity is the highest concurrency meeting "
            "the SLO goal; the winner beats the strongest rival only when Fisher's exact test on the requests "
            "meeting the SLO at the same load gives p < 0.05.",
            *verdicts,
        ],
        [Table(frame)] if not frame.empty else [],
        chart="parameter_sweeps" if with_chart else None,
        chart_alt="Each sweep point's median TTFT against output throughput over its SLO search, and the frontier",
    )


def _best(latest: pd.DataFrame) -> Section:
    best = best_by_scenario(latest)
    frame = pd.DataFrame(
        {
            "compared (model · shape · host)": best["shape"],
            "scenario": best["scenario"],
            "deployments": best["deployments"].astype(str),
            "most output tok/s": [f"{p} ({num(v)})" for p, v in zip(best["most_output"], best["output_throughput"])],
            "lowest median TPOT ms": [
                f"{p} ({num(v, 2)})" for p, v in zip(best["lowest_tpot"], best["median_tpot_ms"])
            ],
            "lowest median TTFT ms": [f"{p} ({num(v)})" for p, v in zip(best["lowest_ttft"], best["median_ttft_ms"])],
        }
    )
    frontier = latest[latest["on_frontier"]]
    on = sorted(frontier["partition"].unique())
    text = [
        "Which parameter set is best depends on what the users need: the most output per GPU, or the "
        "fastest tokens per user. Only results of the same model, request shape and host are compared.",
        f"On the Pareto frontier (no other result is better on both throughput per GPU and interactivity): "
        f"{', '.join(f'`{p}`' for p in on) or 'none'}.",
    ]
    most = best.groupby("shape")["deployments"].max()
    alone = sorted(most[most == 1].index)
    if alone:
        text.append("Only one deployment measured, so nothing to compare yet, for: " + "; ".join(alone) + ".")
    return Section("Which parameter set is best", text, [Table(frame)])


def _last_run(latest: pd.DataFrame, verdicts: pd.DataFrame) -> Section:
    by_key = {} if verdicts.empty else {k: g for k, g in verdicts.groupby(["partition", "scenario"])}
    rows, notes = [], []
    for row in records(latest):
        judged = by_key.get((row["partition"], row["scenario"]))
        # The figures behind the verdict: every metric the rule judged, called or not. An invalid
        # result judged none of them, for one reason: said once, its full text a footnote.
        figures = (
            []
            if judged is None
            else [
                f"{regression.metric(m).label}: {o} ({f})"
                for m, o, f in zip(judged["metric"], judged["outcome"], judged["figure"])
            ]
        )
        if row.get("valid") is False:
            figures = [f"not judged: {invalid_reason(row.get('invalid_reasons'), notes)}"]
        suspects = [] if judged is None else sorted({s for v in judged["suspects"] for s in v})
        rows.append(
            {
                "deployment": row["partition"],
                "scenario": row["scenario"],
                "latest run": when(row["finished_at"]),
                "output tok/s": num(row["output_throughput"]),
                "median TPOT ms": tpot_text(row, "median_tpot_ms"),
                "median TTFT ms": num(row["median_ttft_ms"]),
                "verdict": f"**{row['verdict']}**" if row["verdict"] == regression.SLOWER else row["verdict"],
                "figures": "; ".join(figures) or DASH,
                "suspects": "; ".join(suspects) or DASH,
                "drift since previous run": "; ".join(drift_list(row)) or "none",
            }
        )
    frame = pd.DataFrame(rows)
    counts = latest["verdict"].value_counts()
    drifted = (frame["drift since previous run"] != "none").sum()
    text = [
        f"{counts.get(regression.SLOWER, 0)} of {len(frame)} latest results are slower, "
        f"{counts.get(regression.FASTER, 0)} faster, {counts.get(regression.TOO_NOISY, 0)} inconclusive (too "
        f"noisy), {counts.get(regression.INVALID, 0)} invalid. The rule is the no_regression check's "
        "(`resources/results/regression.py`): the baseline is the last valid runs of the same scenario on the "
        "same hardware model, whatever image, vLLM, weights or driver changed; a change is called only when "
        "it beats the deployment's threshold AND the noise: a Mann-Whitney rank test on the per-request values, "
        "the baseline median outside the run's own bootstrap interval, and a change beyond the prediction "
        'interval of up to 20 earlier valid runs (a 5 % error rate shared among the metrics). "Inconclusive: '
        'too noisy" is the honest answer when the noise is wider than the change.',
        f"{drifted} come from a run that changed something a replay should have reproduced (drift); the "
        "suspects are what changed against the baseline runs of a called change.",
    ]
    return Section("Did the last run get slower?", text, [Table(frame, footnotes=notes)])


def tpot_text(row: dict, column: str, digits: int = 2) -> str:
    """TPOT and ITL read "not measured" when the reply came in a handful of chunks; with their
    interval where the row has one."""
    return "not measured" if row.get("stream_measured") is False else with_interval(row, column, digits)


def _validity(latest: pd.DataFrame) -> Section:
    bad = invalid_results(latest)
    if bad.empty:
        return Section(
            "Valid measurements",
            [
                "Every latest result is a valid measurement (requests completed, "
                "the stream streamed, long enough, nothing else loaded the host)."
            ],
        )
    notes = []
    frame = pd.DataFrame(
        {
            "deployment": bad["partition"],
            "scenario": bad["scenario"],
            "run finished (UTC)": bad["finished_at"].map(when),
            "why it is not a valid measurement": [invalid_reason(text, notes) for text in bad["invalid_reasons"]],
        }
    )
    return Section(
        "Valid measurements",
        [
            f'{len(bad)} of {len(latest)} latest results are INVALID measurements: kept, but left out of "best", '
            "the Pareto frontier, the sweep curves and every regression baseline. Each reason's full text is in "
            "the note its number points to."
        ],
        [Table(frame, footnotes=notes)],
    )


def _latest_tables(latest: pd.DataFrame) -> Section:
    section = Section(
        "Latest results",
        [
            "Each deployment's latest succeeded run, per scenario. "
            "Sweep points are grouped under their sweep. A scenario run several "
            'times (`repeat: N`, "runs") shows the median of its valid runs with '
            "its 95 % interval across them (the min-max of two). Cost per million "
            "output tokens is the deployment's price per hour at the run over its "
            'output per hour; "–" without a price. Latencies show their 95 % '
            "bootstrap interval over the per-request rows."
        ],
    )
    key = latest["scenario_group"].fillna(latest["scenario"])
    for name, rows in latest.assign(_key=key).groupby("_key", sort=True):
        rows = rows.sort_values(["partition", "max_concurrency", "request_rate", "scenario"])
        notes: list[str] = []
        frame = pd.DataFrame(
            {
                "deployment": rows["partition"],
                "scenario": rows["scenario"],
                "ok": rows["completed"].map(num0),
                "failed": rows["failed"].map(num0),
                # With repeat: N, the median of the repetitions and its 95 % interval across them.
                "output tok/s": [with_interval(r, "output_throughput") for r in records(rows)],
                "req/s": [with_interval(r, "request_throughput", 2) for r in records(rows)],
                "runs": rows["repetitions"].map(lambda v: "1" if pd.isna(v) else f"{int(v)}"),
                "$ / M output tok": [cost_text(r) for r in records(rows)],
                # Latencies with their bootstrap interval over the per-request rows.
                "TTFT mean ms": [with_interval(r, "mean_ttft_ms") for r in records(rows)],
                "TTFT p99 ms": [with_interval(r, "p99_ttft_ms") for r in records(rows)],
                "TPOT median ms": [tpot_text(r, "median_tpot_ms") for r in records(rows)],
                "TPOT p99 ms": [tpot_text(r, "p99_tpot_ms") for r in records(rows)],
                "ITL mean ms": [tpot_text(r, "mean_itl_ms") for r in records(rows)],
                "valid": rows["valid"].map(lambda v: "INVALID" if v is False else "yes") if "valid" in rows else "yes",
                "% of decode bound": rows["bound_label"],
                # NVML's energy counter over the benchmark window; n/a where not measured (CPU, remote GPUs).
                "J / output token": rows["joules_per_output_token"].map(lambda v: _or_na(num(v, 3))),
                "mean power W": rows["mean_power_w"].map(lambda v: _or_na(num0(v))),
                # vLLM's own counters over the run: a warm prefix cache, evictions, queueing.
                # Beside the share the workload implies (vLLM's warm-ups repeat the first prompt), and
                # flagged where there were more (resources/results/prefix_cache.py).
                "workload": rows["workload"].fillna("random") if "workload" in rows else "random",
                "prefix hits": [prefix_hits_text(r, notes) for r in records(rows)],
                "preemptions": rows["preemptions"].map(num0),
                # The fullest the KV cache got while the scenario ran (vLLM's gauge, read four times a second).
                "peak KV %": rows["kv_cache_usage_peak"].map(lambda v: figure(v, ".0%")),
                "queue ms": rows["mean_queue_time_ms"].map(lambda v: num(v, 2)),
                "hardware": rows["hardware_fingerprint"].map(lambda v: short(v, 8)),
                # Code from the model's repository runs inside the server: say so wherever results show.
                "remote code": rows["trust_remote_code"].map(lambda v: "TRUSTED" if v is True else "no"),
                "run finished (UTC)": rows["finished_at"].map(when),
            }
        )
        caption = f"Scenario `{name}`"
        if rows["hardware_fingerprint"].nunique() > 1:
            caption += " — **different hardware fingerprints: these rows are not directly comparable.**"
        section.tables.append(Table(frame, caption, footnotes=notes))
    return section


def prefix_hits_text(row: dict, notes: list[str]) -> str:
    """ "62 % (implied ≤ 65 %)", flagged with a footnote when above what the workload implies."""
    text = figure(row.get("prefix_cache_hit_rate"), ".0%")
    if has(row.get("prefix_cache_implied")):
        text += f" (implied ≤ {figure(row['prefix_cache_implied'], '.0%')})"
    if has(row.get("prefix_cache_flag")):
        text += f" FLAGGED {footnote(notes, str(row['prefix_cache_flag']))}"
    return text


def with_interval(row: dict, column: str, digits: int = 1) -> str:
    """ "1,234.5 (1,180.0-1,290.0)" where the result has an interval across repetitions."""
    low, high = row.get(f"{column}_low"), row.get(f"{column}_high")
    text = num(row.get(column), digits)
    return text if not has(low) or not has(high) else f"{text} ({num(low, digits)}-{num(high, digits)})"


def cost_text(row: dict) -> str:
    """USD per million output tokens at the price recorded with the run; "–" without a price."""
    cost = usd_per_million_output_tokens(row.get("price_per_hour_usd"), row.get("output_throughput"))
    return figure(cost, f",.{2 if cost is not None and cost >= 1 else 4}f")


def num0(value) -> str:
    return num(value, 0)


def _or_na(text: str) -> str:
    """Energy is n/a, not unknown, where nothing measured it (a CPU host, a remote engine)."""
    return "n/a" if text == DASH else text


def _roofline(latest: pd.DataFrame) -> Section:
    frame = pd.DataFrame(
        {
            "deployment": latest["partition"],
            "scenario": latest["scenario"],
            "GPU": latest["gpu"].fillna(DASH),
            "TB/s": latest["bandwidth_tbps"].map(lambda v: num(v, 3)),
            "TP": latest["tensor_parallel_size"].map(num0),
            "active params (B) × bytes": [
                f"{sig(a)} × {sig(b)}" for a, b in zip(latest["active_params_b"], latest["bytes_per_param"])
            ],
            "bound tok/s per seq": latest["bound_tok_s"].map(num),
            "measured tok/s per seq": latest["decode_tok_s"].map(num),
            "% of bound": latest["bound_label"],
        }
    )
    text = [
        "Decode at small batch is memory-bound: one sequence gets at most memory bandwidth × TP / "
        "(active parameters × bytes per weight) tokens/s. Measured = 1000 / mean TPOT ms. KV-cache reads "
        "are not counted, so the true bound is a little lower; communication between TP ranks is ignored. "
        "Far below the bound at high concurrency means compute-bound or scheduler overhead.",
        "Bandwidths are NVIDIA datasheet figures (table in `resources/hardware/roofline.py`). A CPU host has no figure "
        "here: its rows say n/a (no GPU).",
    ]
    return Section("How far from the hardware limit", text, [Table(frame)])


def _pareto(latest: pd.DataFrame) -> Section:
    front = latest[latest["on_frontier"]].sort_values(["shape", "interactivity"])
    frame = pd.DataFrame(
        {
            "compared": front["shape"],
            "deployment": front["partition"],
            "scenario": front["scenario"],
            "interactivity tok/s/user": front["interactivity"].map(num),
            "output tok/s per GPU": front["throughput_per_device"].map(num),
            "devices": front["devices"].map(num0),
        }
    )
    text = [
        "Throughput per GPU (output tok/s ÷ GPUs; a CPU host counts as one device) against interactivity "
        "(1000 / median TPOT ms), one series per deployment; the frontier joins results that no other "
        "result beats on both. Up and to the right is better."
    ]
    return Section(
        "Throughput per GPU against interactivity",
        text,
        [Table(frame, "Frontier points")],
        chart="pareto",
        chart_alt="Pareto chart: output tokens/s per GPU against tokens/s per user",
    )


def _sweeps(latest: pd.DataFrame) -> Section:
    points = sweeps(latest)
    frame = pd.DataFrame(
        {
            "deployment": points["partition"],
            "sweep": points["scenario_group"],
            "point": points["scenario"],
            "output tok/s": points["output_throughput"].map(num),
            "TTFT median ms": points["median_ttft_ms"].map(num),
            "TTFT p99 ms": points["p99_ttft_ms"].map(num),
            "TPOT median ms": points["median_tpot_ms"].map(lambda v: num(v, 2)),
            "TPOT p99 ms": points["p99_tpot_ms"].map(lambda v: num(v, 2)),
        }
    )
    text = [
        "Each sweep point raises the load (concurrency or request rate); a good deployment moves right "
        "(more throughput) before it moves up (latency)."
    ]
    return Section(
        "Latency against throughput (sweeps)",
        text,
        [Table(frame)],
        chart="sweeps",
        chart_alt="Latency-throughput curves: median and p99 TTFT and TPOT against output tokens/s",
    )


def _turns(latest: pd.DataFrame, with_chart: bool) -> Section:
    turns, notes = conversation_turns(latest), []
    frame = pd.DataFrame(
        {
            "deployment": turns["partition"],
            "scenario": turns["scenario_group"],
            "turn": turns["turn"].map(num0),
            "TTFT median ms": turns["median_ttft_ms"].map(num),
            "TTFT p99 ms": turns["p99_ttft_ms"].map(num),
            "output tok/s": turns["output_throughput"].map(num),
            "prefix hits": [prefix_hits_text(r, notes) for r in records(turns)],
        }
    )
    return Section(
        "Conversations, turn by turn",
        [
            "Each turn of a multi-turn scenario sends every conversation's history so far: the prompts grow, "
            "and the prefix cache should serve the history (the bound is the previous turn's prompt and "
            "reply tokens, as the server counted them)."
        ],
        [Table(frame, footnotes=notes)],
        chart="turns" if with_chart else None,
        chart_alt="Median TTFT and prefix-cache hit rate per turn of each multi-turn scenario",
    )


def _requests(requests: pd.DataFrame) -> Section:
    frame = pd.DataFrame(
        {
            "deployment": requests["partition"],
            "scenario": requests["scenario"],
            "requests": requests["requests"].map(num0),
            "errors": requests["errors"].map(num0),
            "TTFT p50 ms": requests["p50_ttft_ms"].map(num),
            "TTFT p90 ms": requests["p90_ttft_ms"].map(num),
            "TTFT p99 ms": requests["p99_ttft_ms"].map(num),
            "TPOT p50 ms": requests["p50_tpot_ms"].map(lambda v: num(v, 2)),
            "TPOT p90 ms": requests["p90_tpot_ms"].map(lambda v: num(v, 2)),
            "slowest request ms": requests["max_latency_ms"].map(num),
            "an error": requests["first_error"].map(lambda v: "" if missing(v) else short(v, 60)),
        }
    )
    return Section(
        "Per request (latest runs)",
        [
            "From the per-request rows (`--save-detailed`), aggregated in "
            "DuckDB: the p90 the summary lacks, and what failed."
        ],
        [Table(frame)],
    )


def _startup(starts: pd.DataFrame) -> Section:
    """Cold and warm starts per deployment: how long, where the time went, and the trend."""
    rows = []
    for (partition, state), group in starts.assign(state=starts["compile_cache"].map(cache_state)).groupby(
        ["partition", "state"], sort=True
    ):
        latest = group.iloc[0]  # newest first
        phases = json.loads(latest["startup_phases"]) if isinstance(latest["startup_phases"], str) else {}
        longest = sorted(phases.items(), key=lambda item: -item[1])[:3]
        rows.append(
            {
                "deployment": partition,
                "cache": state.removeprefix("start-up").strip(", ") or "nothing compiled",
                "starts": len(group),
                "median s": num(group["startup_s"].median()),
                "latest s": num(latest["startup_s"]),
                "longest phases of the latest (s)": ", ".join(f"{name} {seconds:.0f}" for name, seconds in longest),
                "KV-cache tokens": num0(latest["kv_cache_tokens"]),
                "trend, oldest to newest (s)": " → ".join(num(v, 0) for v in reversed(group["startup_s"].tolist()[:6])),
            }
        )
    return Section(
        "Start-up",
        [
            "Each deployment's recent server starts (a reused server did not start), split by the compile "
            "cache's state: a cold start compiles, a warm one loads what an earlier start compiled. Each start "
            "is judged against the same deployment's starts in the same state by the regression rule "
            "(the startup_no_regression check).",
        ],
        [Table(pd.DataFrame(rows))],
    )


def _history(data: ComparisonData, with_chart: bool, accuracy_na: dict[str, str]) -> Section:
    counts = data.run_counts
    section = Section(
        "History",
        [
            f"Each deployment's last {data.history_runs} runs, newest first: output tok/s and median TPOT per "
            "scenario, failed requests, the accuracy of its answers where evaluated, and what changed since its "
            "previous succeeded run."
        ],
        chart="trend" if with_chart else None,
        chart_alt="Output tokens/s of each deployment over its recent runs",
    )
    if not counts.empty:
        section.tables.append(
            Table(
                pd.DataFrame(
                    {
                        "deployment": counts["partition"],
                        "runs": counts["runs"].map(num0),
                        "succeeded": counts["succeeded"].map(num0),
                        "first run": counts["first_run"].map(when),
                        "last run": counts["last_run"].map(when),
                    }
                ),
                "Runs recorded",
            )
        )
    results = data.recent_results
    cells: dict[tuple[str, str], str] = {}
    failed: dict[str, int] = {}
    scenarios: dict[str, list[str]] = {}
    if not results.empty:
        for partition, run_id, scenario, output, tpot, fails in zip(
            results["partition"],
            results["run_id"],
            results["scenario"],
            results["output_throughput"],
            results["median_tpot_ms"],
            results["failed"],
        ):
            cells[(run_id, scenario)] = f"{num(output)} · {num(tpot, 2)}"
            failed[run_id] = failed.get(run_id, 0) + (0 if missing(fails) else int(fails))
            if scenario not in scenarios.setdefault(partition, []):
                scenarios[partition].append(scenario)
    evaluated = (
        {}
        if data.recent_accuracy.empty
        else {
            (p, r): f"{accuracy_text({'accuracy': a})} ({v})"
            for p, r, a, v in zip(
                data.recent_accuracy["partition"],
                data.recent_accuracy["run_id"],
                data.recent_accuracy["accuracy"],
                data.recent_accuracy["verdict"],
            )
        }
    )
    for partition, runs in data.recent_runs.groupby("partition", sort=True):
        columns = sorted(scenarios.get(partition, []))
        with_accuracy = partition not in accuracy_na and any(p == partition for p, _ in evaluated)
        rows = []
        for run in records(runs.sort_values("recency")):
            row = {
                "finished (UTC)": when(run["finished_at"]),
                "run": short(run["run_id"], 8),
                "status": run["status"],
                "origin": run.get("origin") or DASH,
                "failed requests": str(failed[run["run_id"]]) if run["run_id"] in failed else DASH,
            }
            for scenario in columns:
                row[scenario] = cells.get((run["run_id"], scenario), DASH)
            if with_accuracy:
                row["accuracy"] = evaluated.get((partition, run["run_id"]), DASH)
            row["drift"] = "; ".join(drift_list(run)) or ("none" if has(run.get("prev_run_id")) else DASH)
            rows.append(row)
        section.tables.append(Table(pd.DataFrame(rows), f"`{partition}` (per scenario: output tok/s · median TPOT ms)"))
    return section


def _drift(data: ComparisonData) -> Section:
    events = data.drift_events
    if events.empty:
        return Section(
            "Drift",
            [
                "No drift: every run reproduced its predecessor's image digest, weights "
                "revision, config hash, vLLM version and hardware."
            ],
        )
    frame = pd.DataFrame(
        {
            "deployment": events["partition"],
            "run": events["run_id"].map(lambda v: short(v, 8)),
            "finished (UTC)": events["finished_at"].map(when),
            "what changed": ["; ".join(drift_list(row)) for row in records(events)],
        }
    )
    shown = f" (newest {len(events)} shown)" if data.drift_total > len(events) else ""
    return Section(
        "Drift",
        [
            f"{data.drift_total} runs in the whole history did not reproduce their predecessor"
            f"{shown}. A replay must use the same image digest, weights revision and vLLM "
            "arguments; a change here explains a change in the numbers."
        ],
        [Table(frame)],
    )
