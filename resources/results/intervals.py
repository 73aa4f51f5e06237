"""Intervals for a result's numbers (pure, numpy only; no scipy here).

- A latency statistic (mean, median, p99 of TTFT, TPOT, ITL, E2EL): a percentile bootstrap over
  the run's per-request values, resampling requests with replacement (fixed seed, so the same
  rows always give the same interval).
- Run to run (any metric across earlier runs): a prediction interval for one more run, from the
  runs' standard deviation with Student's t: where an unchanged run would fall.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

BOOTSTRAP_SAMPLES = 1000


def t_quantile(p: float, dof: int) -> float:
    """Student's t quantile (Cornish-Fisher expansion around the normal one; within 1 % of the
    exact value from 3 degrees of freedom, 3 % narrow at 2)."""
    z = NormalDist().inv_cdf(p)
    v = float(dof)
    return (
        z
        + (z**3 + z) / (4 * v)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * v**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * v**3)
    )


def bootstrap_interval(
    values, stat: str, samples: int = BOOTSTRAP_SAMPLES, seed: int = 0, level: float = 0.95
) -> tuple[float, float] | None:
    """Percentile-bootstrap interval of ``stat`` over per-request ``values``; None under 8 values."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if len(values) < 8:
        return None
    rng = np.random.default_rng(seed)
    resampled = values[rng.integers(0, len(values), size=(samples, len(values)))]
    if stat == "mean":
        estimates = resampled.mean(axis=1)
    elif stat == "median":
        estimates = np.median(resampled, axis=1)
    else:
        estimates = np.percentile(resampled, float(stat[1:]), axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(estimates, [tail, 100 - tail])
    return float(low), float(high)


def prediction_halfwidth(runs, level: float = 0.95) -> float | None:
    """Half-width of the prediction interval for one more run; None under two runs."""
    runs = np.asarray(runs, dtype=float)
    if len(runs) < 2:
        return None
    return t_quantile(0.5 + level / 2, len(runs) - 1) * float(np.std(runs, ddof=1)) * math.sqrt(1 + 1 / len(runs))
