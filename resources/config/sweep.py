"""Sweeps: one base deployment and a grid (or a list) of settings, each combination a partition.

A sweep file ``configs/sweeps/NAME.yaml`` names a deployment under ``configs/deployments/`` and
the settings to vary: serving parameters (any field of a parameter set, e.g. ``max_num_seqs``)
and scenario settings (``bench.<field>``, applied to every scenario of the deployment).

Each combination is a deployment of its own with a stable, readable partition key,
``NAME.field-value.field-value`` (for example ``tiny-cpu-batching.max_num_seqs-2.max_num_batched_tokens-256``):
a point is rerun, replayed and judged against its own history like any deployment. The keys are
a pure function of the file, so every process that loads the code (webserver, daemon, a run's
worker) agrees on them without asking the instance; that is why sweeps are static partitions
derived from the files at load time, not dynamic partitions a command has to register first.

Pure: no server, no Dagster. Loading is ``resources/config/loader.py``.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from pydantic import Field, model_validator

from resources.config.models import BenchmarkScenario, ParamSet, StrictModel

BENCH_PREFIX = "bench."
# Settings a sweep may vary on a scenario: the load and the lengths, not the scenario's identity.
BENCH_FIELDS = ("input_len", "output_len", "num_prompts", "max_concurrency", "request_rate", "warmups", "repeat")
_KEY_VALUE = re.compile(r"[^a-z0-9_.]+")


class SweepFile(StrictModel):
    """A sweep as written."""

    description: str = ""
    base: str = Field(description="name of a deployment under configs/deployments/ (without .yaml)")
    grid: dict[str, list[Any]] | None = Field(
        None, description="setting -> values; every combination is a point (the product of the lists)"
    )
    points: list[dict[str, Any]] | None = Field(
        None, description="the combinations themselves, when not every one of a grid is wanted"
    )
    port: int | None = Field(
        None, ge=1, le=65535, description="the port the sweep's server binds to (default: the base deployment's)"
    )
    accuracy: bool = Field(True, description="false: the points skip the base deployment's evaluation set (speed only)")
    benchmarks: tuple[BenchmarkScenario, ...] | None = Field(
        None, min_length=1, description="scenarios measured at every point, in place of the base deployment's"
    )

    @model_validator(mode="after")
    def _grid_or_points(self) -> "SweepFile":
        if (self.grid is None) == (self.points is None):
            raise ValueError("write either 'grid' (setting -> list of values) or 'points' (a list of settings)")
        if self.grid is not None:
            if not self.grid:
                raise ValueError("grid: name at least one setting to vary")
            empty = [name for name, values in self.grid.items() if not values]
            if empty:
                raise ValueError(f"grid: {', '.join(empty)} has no values; list at least one")
        if self.points is not None and not self.points:
            raise ValueError("points: list at least one combination")
        for name in self.setting_names():
            _check_setting_name(name)
        return self

    def setting_names(self) -> list[str]:
        if self.grid is not None:
            return list(self.grid)
        return list(dict.fromkeys(name for point in self.points or [] for name in point))

    def combinations(self) -> list[dict[str, Any]]:
        """Every point's settings, in the file's order (a grid: the last setting varies fastest)."""
        if self.grid is not None:
            names = list(self.grid)
            return [dict(zip(names, values)) for values in itertools.product(*self.grid.values())]
        return [dict(point) for point in self.points or []]


def _check_setting_name(name: str) -> None:
    if name.startswith(BENCH_PREFIX):
        field = name.removeprefix(BENCH_PREFIX)
        if field not in BENCH_FIELDS:
            raise ValueError(f"'{name}': a sweep varies these scenario settings: {', '.join(BENCH_FIELDS)}")
        return
    if name not in ParamSet.model_fields or name == "extra_args":
        allowed = ", ".join(f for f in ParamSet.model_fields if f != "extra_args")
        raise ValueError(
            f"'{name}' is not a serving parameter; vary a parameter set's field ({allowed}) "
            f"or a scenario setting ({', '.join(BENCH_PREFIX + f for f in BENCH_FIELDS)})"
        )


def _key_value(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    return _KEY_VALUE.sub("_", str(value).lower()).strip("_") or "none"


def point_key(sweep: str, settings: dict[str, Any]) -> str:
    """The partition key of one combination: the sweep's name, then ``field-value`` per setting."""
    parts = [f"{name.removeprefix(BENCH_PREFIX)}-{_key_value(value)}" for name, value in settings.items()]
    return ".".join([sweep, *parts])


def point_keys(sweep: str, spec: SweepFile) -> dict[str, dict[str, Any]]:
    """Partition key -> settings for every point; two points with one key are refused."""
    keys: dict[str, dict[str, Any]] = {}
    for settings in spec.combinations():
        key = point_key(sweep, settings)
        if key in keys:
            raise ValueError(f"points {keys[key]} and {settings} get the same partition key '{key}'; make them differ")
        keys[key] = settings
    return keys


def split_settings(settings: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(serving parameters, scenario settings) of one point."""
    params = {k: v for k, v in settings.items() if not k.startswith(BENCH_PREFIX)}
    bench = {k.removeprefix(BENCH_PREFIX): v for k, v in settings.items() if k.startswith(BENCH_PREFIX)}
    return params, bench


def fitting_settings(scenario: BenchmarkScenario, bench: dict[str, Any]) -> dict[str, Any]:
    """The scenario settings that apply to ``scenario``: a ladder, a rate sweep or an SLO search
    chooses its own load, so a swept ``max_concurrency`` or ``request_rate`` leaves it as it is."""
    sets_concurrency = scenario.concurrency_ladder is not None or scenario.slo_search is not None
    skip = {"max_concurrency"} if sets_concurrency else set()
    if scenario.request_rates is not None:
        skip.add("request_rate")
    return {name: value for name, value in bench.items() if name not in skip}


def describe_settings(settings: dict[str, Any]) -> str:
    """``max_num_seqs=2, max_num_batched_tokens=256``: how a point reads in logs and the report."""
    return ", ".join(f"{name}={value}" for name, value in settings.items())
