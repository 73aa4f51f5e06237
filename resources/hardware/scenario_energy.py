"""The energy columns of one scenario's row, from the meter the deployment's runtime gave (if any)."""

from __future__ import annotations

from pathlib import Path

from resources.hardware.energy import EnergyMeter, energy_per_token

ENERGY_COLUMNS = ("energy_j", "mean_power_w", "joules_per_output_token")


def scenario_energy(meter: EnergyMeter | None, parsed: dict, result_file: Path) -> dict:
    """The row's energy columns (None: n/a); the samples are kept beside the result file."""
    if meter is None:
        return dict.fromkeys(ENERGY_COLUMNS)
    meter.save(result_file.with_suffix(".energy.json"))
    figures = energy_per_token(meter.recorded, parsed.get("duration_s") or 0, parsed.get("total_output_tokens") or 0)
    return figures or dict.fromkeys(ENERGY_COLUMNS)
