"""The report's charts as PNG files (matplotlib, Agg backend: no display, no network).

- ``pareto``: output tok/s per GPU against interactivity (1000 / median TPOT ms), one series per
  deployment, the frontier of each comparable group (model, request shape, host) marked, as
  InferenceX draws its nightly charts;
- ``sweeps``: latency against throughput for scenario groups that vary concurrency or request rate;
- ``trend``: output tok/s of each deployment over its recent runs.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: files only, never a window

import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from resources.figures import missing  # noqa: E402
from resources.report.data import (  # noqa: E402
    ComparisonData,
    conversation_turns,
    pareto_frontier,
    pareto_points,
    records,
    sweeps,
)

DPI = 90
MAX_PANELS = 4
MAX_LABELLED_POINTS = 16  # per panel; more labels than that hide the points
STYLE = {
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "font.size": 9,
    "axes.titlesize": 9,
    "legend.fontsize": 8,
    "legend.frameon": False,
}


def _colors(partitions) -> dict[str, tuple]:
    """One colour per deployment, the same in every chart."""
    palette = plt.get_cmap("tab10" if len(partitions) <= 10 else "tab20")
    return {p: palette(i % palette.N) for i, p in enumerate(sorted(partitions))}


def draw_charts(data: ComparisonData, folder: Path) -> dict[str, Path]:
    """Draws what there is data for; returns chart key -> PNG path."""
    folder.mkdir(parents=True, exist_ok=True)
    if data.empty:
        return {}
    colors = _colors(data.latest["partition"].unique())
    drawn = {}
    with plt.rc_context(STYLE):
        for key, draw in (
            ("pareto", pareto_chart),
            ("sweeps", sweep_chart),
            ("trend", trend_chart),
            ("parameter_sweeps", parameter_sweep_chart),
            ("turns", turns_chart),
        ):
            fig = draw(data, colors)
            if fig is not None:
                drawn[key] = folder / f"{key}.png"
                fig.savefig(drawn[key], dpi=DPI, pil_kwargs={"compress_level": 3})
                plt.close(fig)
    return drawn


def _grid(n: int, labels: list[str], title: str, width: float = 4.8, height: float = 3.4):
    """Panels in up to two columns and a legend on the right as wide as its labels, laid out by hand
    (matplotlib's constrained layout doubles the time to save a chart)."""
    cols = 1 if n == 1 else 2
    rows = (n + cols - 1) // cols
    legend_cols = 1 if len(labels) <= 18 else 2
    legend_w = legend_cols * (0.75 + 0.062 * max((len(label) for label in labels), default=10))
    fig_w, fig_h = width * cols + legend_w + 0.3, height * rows + 0.9
    fig, axes = plt.subplots(rows, cols, figsize=(fig_w, fig_h), squeeze=False)
    fig.subplots_adjust(
        left=0.75 / fig_w,
        right=(fig_w - legend_w) / fig_w,
        bottom=0.6 / fig_h,
        top=(fig_h - 0.75) / fig_h,
        wspace=0.28 * 4.8 / width,
        hspace=0.55 * 3.4 / height,
    )
    lines = textwrap.wrap(title, width=int((fig_w - 0.9) / 0.085))  # about 0.085 in per character at 11 pt
    fig_h += 0.2 * (len(lines) - 1)
    fig.set_size_inches(fig_w, fig_h)
    fig.subplots_adjust(bottom=0.6 / fig_h, top=(fig_h - 0.75 - 0.2 * (len(lines) - 1)) / fig_h)
    fig.suptitle("\n".join(lines), x=0.75 / fig_w, ha="left", y=1 - 0.12 / fig_h, va="top", fontsize=11)
    flat = list(axes.flat)
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def _legend(fig, axes) -> None:
    handles = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    keys = ("Pareto frontier", "median (solid)", "p99 (dashed)")  # after the deployments
    labels = sorted(handles, key=lambda label: (label in keys, label))
    right = fig.subplotpars.right
    fig.legend(
        [handles[label] for label in labels],
        labels,
        loc="upper left",
        bbox_to_anchor=(right + 0.01, fig.subplotpars.top),
        ncols=1 if len(handles) <= 18 else 2,
    )


def _load(value) -> float:
    return float("inf") if missing(value) else float(value)


def pareto_chart(data: ComparisonData, colors: dict):
    points = pareto_points(data.latest)
    if points.empty:
        return None
    groups = list(points.groupby("shape", sort=True))[:MAX_PANELS]
    fig, axes = _grid(
        len(groups),
        [*points["partition"].unique(), "Pareto frontier"],
        "Output tok/s per GPU against interactivity (latest run of each deployment; up and right is better)",
    )
    for ax, (shape, group) in zip(axes, groups):
        labelled = len(group) <= MAX_LABELLED_POINTS
        # A sweep's points are joined in load order; a lone scenario is a marker. Grouped in plain
        # Python: pandas' groupby costs more than the drawing for a few points each.
        curves: dict[tuple, list[dict]] = {}
        for row in records(
            group[
                [
                    "partition",
                    "scenario",
                    "scenario_group",
                    "max_concurrency",
                    "request_rate",
                    "interactivity",
                    "throughput_per_device",
                ]
            ]
        ):
            sweep = row["scenario_group"] if isinstance(row["scenario_group"], str) else row["scenario"]
            curves.setdefault((row["partition"], sweep), []).append(row)
        for (partition, _), curve in sorted(curves.items()):
            curve.sort(key=lambda r: (_load(r["max_concurrency"]), _load(r["request_rate"])))
            ax.plot(
                [r["interactivity"] for r in curve],
                [r["throughput_per_device"] for r in curve],
                "o-",
                color=colors[partition],
                label=partition,
                markersize=4.5,
                linewidth=1.1,
                alpha=0.9,
            )
            if labelled:
                for r in curve:
                    ax.annotate(
                        str(r["scenario"]).split("/")[-1],
                        (r["interactivity"], r["throughput_per_device"]),
                        textcoords="offset points",
                        xytext=(4, 3),
                        fontsize=7,
                        color="0.35",
                    )
        front = group[group["on_frontier"]].sort_values("interactivity")
        ax.plot(
            front["interactivity"],
            front["throughput_per_device"],
            "--",
            color="black",
            linewidth=1,
            label="Pareto frontier",
            zorder=1,
        )
        ax.scatter(
            front["interactivity"],
            front["throughput_per_device"],
            s=90,
            facecolors="none",
            edgecolors="black",
            linewidths=1.1,
            zorder=3,
        )
        model, _, rest = shape.partition(" · ")
        _label_axes(ax, f"{model}\n{rest}", "tok/s per user (1000 / median TPOT ms)", "output tok/s per GPU")
    _legend(fig, axes)
    return fig


def _label_axes(ax, title: str, xlabel: str, ylabel: str) -> None:
    """Title and labels; both axes from zero, so a chart never exaggerates a small difference."""
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_locator(MaxNLocator(5))


def sweep_chart(data: ComparisonData, colors: dict):
    points = sweeps(data.latest)
    if points.empty:
        return None
    curves = list(points.groupby(["partition", "scenario_group"], sort=True))
    groups = sorted(points["scenario_group"].unique())
    names = [p if len(groups) == 1 else f"{p} · {g}" for p, g in (key for key, _ in curves)]
    labelled = len(points) <= MAX_LABELLED_POINTS
    fig, axes = _grid(
        2,
        [*names, "median (solid)", "p99 (dashed)"],
        "Latency against output throughput as "
        "the load rises (latest run" + ("; points labelled with their load)" if labelled else ")"),
    )
    markers = "osD^v<>"
    for ax, metric in zip(axes, ("TTFT", "TPOT")):
        for ((partition, group_name), curve), name in zip(curves, names):
            curve = curve.sort_values("load")
            style = dict(
                marker=markers[groups.index(group_name) % len(markers)],
                color=colors[partition],
                markersize=4,
                linewidth=1.1,
            )
            ax.plot(curve["output_throughput"], curve[f"median_{metric.lower()}_ms"], "-", label=name, **style)
            ax.plot(
                curve["output_throughput"],
                curve[f"p99_{metric.lower()}_ms"],
                "--",
                alpha=0.7,
                **{**style, "marker": None},
            )
            if labelled:
                for row in curve.itertuples():
                    ax.annotate(
                        str(row.scenario).split("/")[-1],
                        (row.output_throughput, getattr(row, f"median_{metric.lower()}_ms")),
                        textcoords="offset points",
                        xytext=(3, -10),
                        fontsize=7,
                        color="0.35",
                    )
        ax.plot([], [], "-", color="0.3", label="median (solid)")
        ax.plot([], [], "--", color="0.3", label="p99 (dashed)")
        _label_axes(ax, f"{metric}: median and p99", "output tok/s", f"{metric} ms")
    _legend(fig, axes)
    return fig


def turns_chart(data: ComparisonData, colors: dict):
    """Multi-turn scenarios: median TTFT and the prefix-cache hit rate, turn by turn."""
    turns = conversation_turns(data.latest)
    if turns.empty:
        return None
    curves = list(turns.groupby(["partition", "scenario_group"], sort=True))
    names = [f"{partition} · {group}" for (partition, group), _ in curves]
    fig, axes = _grid(
        2, names, "Conversations turn by turn: each turn's prompt carries the history so far (latest run)"
    )
    for ((partition, _), curve), name in zip(curves, names):
        style = dict(marker="o", color=colors[partition], markersize=4, linewidth=1.1, label=name)
        axes[0].plot(curve["turn"], curve["median_ttft_ms"], "-", **style)
        axes[1].plot(curve["turn"], 100 * curve["prefix_cache_hit_rate"].astype(float), "-", **style)
    _label_axes(axes[0], "median TTFT", "turn", "TTFT ms")
    _label_axes(axes[1], "prefix-cache hits", "turn", "% of prompt tokens")
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    _legend(fig, axes)
    return fig


def parameter_sweep_chart(data: ComparisonData, colors: dict):
    """Per sweep, each point's load-latency curve over its SLO search's levels (median TTFT against
    output tok/s), with the frontier over every level of every point."""
    sweeps_drawn = [s for s in data.parameter_sweeps if not s.curves.empty][:MAX_PANELS]
    if not sweeps_drawn:
        return None
    labels = sorted({label for s in sweeps_drawn for label in s.curves["label"]})
    palette = plt.get_cmap("tab10")
    color = {label: palette(i % palette.N) for i, label in enumerate(labels)}
    fig, axes = _grid(
        len(sweeps_drawn),
        [*labels, "Pareto frontier"],
        "Which parameter set is best: each point's median TTFT against output throughput as its SLO "
        "search raised the concurrency (points labelled with it), and the frontier over all points",
    )
    for ax, summary in zip(axes, sweeps_drawn):
        curves = summary.curves.sort_values("max_concurrency")
        for label, curve in curves.groupby("label", sort=True):
            ax.plot(curve["output_throughput"], curve["median_ttft_ms"], "-o", color=color[label], label=label,
                    markersize=4, linewidth=1.1)  # fmt: skip
            for row in curve.itertuples():
                ax.annotate(f"c{int(row.max_concurrency)}", (row.output_throughput, row.median_ttft_ms),
                            textcoords="offset points", xytext=(3, -10), fontsize=7, color="0.35")  # fmt: skip
        valid = curves[curves["valid"].fillna(True).astype(bool)]
        front = valid[pareto_frontier(valid["output_throughput"], -valid["median_ttft_ms"])].sort_values(
            "output_throughput"
        )
        ax.plot(
            front["output_throughput"], front["median_ttft_ms"], "--", color="0.2", label="Pareto frontier", linewidth=1
        )
        _label_axes(ax, f"sweep {summary.name}", "output tok/s", "median TTFT ms")
    _legend(fig, axes)
    return fig


def trend_chart(data: ComparisonData, colors: dict):
    results = data.recent_results
    if results.empty or results["finished_at"].nunique() < 2:  # a trend needs two runs
        return None
    # Plain scenarios, then the highest-load point of each sweep (where it saturates first);
    # at most MAX_PANELS panels: text is most of a chart's drawing time.
    plain = sorted(results.loc[results["scenario_group"].isna(), "scenario"].unique())
    loaded = (
        results[results["scenario_group"].notna()]
        .assign(_load=lambda f: pd.to_numeric(f["scenario"].str.extract(r"(\d+(?:\.\d+)?)$")[0], errors="coerce"))
        .sort_values("_load")
        .groupby("scenario_group")["scenario"]
        .last()
    )
    order = [*plain, *sorted(loaded)]
    scenarios = order[:MAX_PANELS]
    more = len(order) - len(scenarios)
    fig, axes = _grid(
        len(scenarios),
        list(results["partition"].unique()),
        f"Output tok/s over each deployment's last {data.history_runs} runs"
        + (f" ({more} more scenarios in the tables)" if more > 0 else ""),
        height=2.9,
    )
    # Markers help a few series and only cost time (and ink) with many.
    style = "o-" if results["partition"].nunique() <= 8 else "-"
    for ax, scenario in zip(axes, scenarios):
        for partition, series in results[results["scenario"] == scenario].groupby("partition", sort=True):
            series = series.sort_values("finished_at")
            ax.plot(
                pd.to_datetime(series["finished_at"]),
                series["output_throughput"],
                style,
                markersize=3,
                linewidth=1.1,
                color=colors.get(partition, "0.5"),
                label=partition,
            )
        ax.set_title(f"scenario {scenario}")
        ax.set_ylabel("output tok/s")
        ax.yaxis.set_major_locator(MaxNLocator(5))
        ax.set_ylim(bottom=0)
        locator = mdates.AutoDateLocator(maxticks=6)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    _legend(fig, axes)
    return fig
