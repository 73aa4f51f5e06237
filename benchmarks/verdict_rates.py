"""How often the regression rule cries wolf, and how often it catches a real slowdown, on
recorded real runs (``tests/fixtures/bench_history/``, see its README); the measurement itself
is ``resources/results/rule_rates.py``.

- false positives: every recorded unchanged run, judged in recording order against the runs
  before it, exactly as the no_regression check judges a new run; any metric called "slower"
  (or "faster") on an unchanged run is a false call;
- detection: each valid recorded run that has at least ``--min-baseline`` valid runs before it is
  planted with a slowdown (every time ×(1+s), every throughput ÷(1+s)) and a new vLLM version,
  then judged against the real runs before it; caught = some metric called "slower" with the
  vLLM version among the suspects.

    python benchmarks/verdict_rates.py --series warm-unchanged       # vLLM's CPU build, this 2-core host
    python benchmarks/verdict_rates.py --series h200-c16-unchanged   # vLLM's GPU build, one H200
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from resources.config.models import RegressionPolicy  # noqa: E402
from resources.results.recorded import load_series, series_facts  # noqa: E402
from resources.results.rule_rates import detection, false_calls  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "bench_history"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--series", default="warm-unchanged", help="file name prefix of the unchanged runs")
    parser.add_argument("--min-baseline", type=int, default=3)
    parser.add_argument(
        "--ignore-host-usage",
        action="store_true",
        help="accept runs that other work on the host competed with (to see the rule on noisy runs)",
    )
    args = parser.parse_args()
    host_usage = not args.ignore_host_usage
    policy = RegressionPolicy()
    series = load_series(FIXTURES, args.series)
    hardware, version = series_facts(args.series)
    folder = Path(tempfile.mkdtemp(prefix="verdict-rates-"))
    print(f"policy: window {policy.window}, thresholds {policy.thresholds}; series {args.series}: {len(series)} runs")
    fp = false_calls(series, policy, folder, hardware, version, host_usage)
    for run_id, outcomes in fp.outcomes.items():
        print(f"  {run_id}: {', '.join(outcomes)}")
    print(
        f"false positives: {fp.slower} 'slower' and {fp.faster} 'faster' calls over {fp.judged} judged "
        f"unchanged runs ({fp.runs} recorded; the others invalid or without a baseline)"
    )
    for slowdown in (0.10, 0.20, 0.30):
        found = detection(series, slowdown, policy, folder, args.min_baseline, hardware, version, host_usage)
        print(
            f"planted {slowdown:.0%} slowdown: caught {found.caught} of {found.trials} ({found.rate:.0%}), "
            f"vLLM version named in {found.named_vllm}; outcomes: " + "; ".join(",".join(o) for o in found.outcomes)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
