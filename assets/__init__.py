"""Dagster assets: one per step of the recipe, thin wiring around ``resources/``."""
