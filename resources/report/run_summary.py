"""What a benchmark run shows in Dagster: its metadata and its three checks (pure).

The figures of the run's first scenario, every scenario's summary with its verdict and validity,
and the outcome of the checks no_regression (the regression rule on this run's results),
startup_no_regression (the same rule on its server start) and valid_measurements. Plain values:
``Markdown`` marks text the asset shows as markdown, a ``Path`` is shown as a path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from resources.config.models import RegressionPolicy
from resources.figures import DASH
from resources.report.markdown import markdown_table
from resources.results.regression import RunJudgement, Verdict, scenario_outcome
from resources.runtime.values import ServiceInfo

SUMMARY_COLUMNS = [
    "scenario",
    "completed",
    "failed",
    "output_throughput",
    "mean_ttft_ms",
    "p99_ttft_ms",
    "mean_tpot_ms",
    "median_tpot_ms",
    "mean_itl_ms",
    "joules_per_output_token",
]


class Markdown(str):
    """Metadata text to show as markdown."""


@dataclass(frozen=True)
class CheckOutcome:
    name: str
    passed: bool
    severity: str  # "error" or "warn"
    description: str
    metadata: dict


@dataclass(frozen=True)
class RunSummary:
    metadata: dict
    checks: list[CheckOutcome]


def run_summary(
    rows: list[dict],
    requests: list[dict],
    judgement: RunJudgement,
    start: RunJudgement,
    policy: RegressionPolicy,
    service: ServiceInfo,
    hardware_fingerprint: str,
    results_path: Path,
) -> RunSummary:
    regressions, invalid = judgement.regressions, [r for r in rows if not r["valid"]]
    summary = pd.DataFrame(rows)[SUMMARY_COLUMNS].round(2)
    summary["verdict"] = [scenario_outcome(v.outcome for v in judgement.for_scenario(r["scenario"])) for r in rows]
    # The reasons are in the valid_measurements check: a long cell would fold the table in the UI.
    summary["valid"] = ["yes" if r["valid"] else "INVALID" for r in rows]
    first = rows[0]
    metadata = {
        "results_db": results_path,
        "scenarios": len(rows),
        "request_rows": len(requests),
        "completed": int(sum(r["completed"] for r in rows)),
        "failed": int(sum(r["failed"] for r in rows)),
        "output_throughput": round(first["output_throughput"], 2),
        "mean_ttft_ms": round(first["mean_ttft_ms"], 2),
        "mean_tpot_ms": round(first["mean_tpot_ms"], 2),
        "summary": Markdown(markdown_table(summary.astype(object).where(summary.notna(), DASH), pad=False)),
        "invalid_results": len(invalid),
        "config_hash": service.config_hash,
        "hardware_fingerprint": hardware_fingerprint,
    }
    severity = policy.severity
    checks = [
        CheckOutcome(
            "no_regression",
            not regressions,
            severity,
            "\n".join(r.describe() for r in regressions)
            or "no metric slower beyond both its threshold and the noise of this partition's valid history",
            {
                "regressions": len(regressions),
                "metrics": ", ".join(sorted({r.metric for r in regressions})) or "none",
                "suspects": "; ".join(sorted({s for r in regressions for s in r.suspects})) or "none",
                "verdicts": Markdown(verdict_table(judgement.verdicts)),
            },
        ),
        CheckOutcome(
            "startup_no_regression",
            not start.regressions,
            severity,
            "\n".join(r.describe() for r in start.regressions)
            or (
                "the server was reused: no start to judge"
                if service.reused
                else "no start-up phase slower beyond both its threshold and the noise of this deployment's starts"
            ),
            {
                "startup_s": round(service.startup_s, 2) if service.startup_s else 0.0,
                "compile_cache": service.compile_cache or "none",
                "verdicts": Markdown(verdict_table(start.verdicts)),
            },
        ),
        CheckOutcome(
            "valid_measurements",
            not invalid,
            "warn",
            "\n".join(f"{r['scenario']}: {r['invalid_reasons']}" for r in invalid)
            or "every result is a valid measurement",
            {"invalid_results": len(invalid)},
        ),
    ]
    return RunSummary(metadata, checks)


def verdict_table(verdicts: list[Verdict]) -> str:
    if not verdicts:
        return "no metric judged"
    return pd.DataFrame(
        [
            {
                "scenario": v.scenario,
                "metric": v.metric,
                "verdict": v.outcome,
                "figure": v.figure(),
                "suspects": "; ".join(v.suspects) or DASH,
            }
            for v in verdicts
        ]
    ).to_markdown(index=False)
