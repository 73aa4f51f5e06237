"""Dagster definitions (jobs, schedules, sensors) and the project's command line."""
