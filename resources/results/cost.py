"""What a deployment's output costs (pure): its price per hour, as recorded with each run, over the
tokens it produced per hour. No price, no figure: nothing is assumed."""

from __future__ import annotations

import math

from resources.config.models import Cost


def price_per_hour(cost: Cost | None, gpu_count: int) -> float | None:
    """The deployment's price per hour in USD: per GPU times the GPUs it uses, or the host's price;
    None without a price, or for a per-GPU price where no GPU was counted."""
    if cost is None:
        return None
    if cost.unit == "host":
        return cost.per_hour_usd
    return cost.per_hour_usd * gpu_count if gpu_count > 0 else None


def usd_per_million_output_tokens(price_usd_per_hour, output_tok_s) -> float | None:
    """hourly price / (output tok/s * 3600) * 1e6; None without a price or without output."""
    try:
        price, rate = float(price_usd_per_hour), float(output_tok_s)
    except (TypeError, ValueError):
        return None
    if math.isnan(price) or math.isnan(rate) or rate <= 0:
        return None
    return price / (rate * 3600) * 1e6
