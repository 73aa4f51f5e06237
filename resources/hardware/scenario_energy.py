"""Which deployments get an energy meter, and the energy columns of one scenario's row."""

from __future__ import annotations

from pathlib import Path

from resources.config.models import Deployment
from resources.hardware.energy import EnergyMeter, energy_per_token, serving_gpus

ENERGY_COLUMNS = ("energy_j", "mean_power_w", "joules_per_output_token")


def open_energy_meter(deployment: Deployment) -> EnergyMeter | None:
    """A meter on the serving GPUs when they are this host's own (a GPU process runtime);
    None elsewhere: a CPU build, an external endpoint or a remote engine (energy n/a)."""
    if deployment.runtime.kind != "process" or not deployment.needs_gpu:
        return None
    return EnergyMeter.open(serving_gpus(deployment.runtime.env))


def scenario_energy(meter: EnergyMeter | None, parsed: dict, result_file: Path) -> dict:
    """The row's energy columns (None: n/a); the samples are kept beside the result file."""
    if meter is None:
        return dict.fromkeys(ENERGY_COLUMNS)
    meter.save(result_file.with_suffix(".energy.json"))
    figures = energy_per_token(meter.recorded, parsed.get("duration_s") or 0, parsed.get("total_output_tokens") or 0)
    return figures or dict.fromkeys(ENERGY_COLUMNS)
