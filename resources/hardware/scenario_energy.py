"""The energy columns of one scenario's row, from the energy samples taken while it ran (pure)."""

from __future__ import annotations

from resources.hardware.energy import EnergySamples, energy_per_token

ENERGY_COLUMNS = ("energy_j", "mean_power_w", "joules_per_output_token")


def scenario_energy(recorded: EnergySamples | None, parsed: dict) -> dict:
    """The row's energy columns; None (n/a) where nothing was recorded or the samples do not cover the run."""
    if recorded is None:
        return dict.fromkeys(ENERGY_COLUMNS)
    figures = energy_per_token(recorded, parsed.get("duration_s") or 0, parsed.get("total_output_tokens") or 0)
    return figures or dict.fromkeys(ENERGY_COLUMNS)
