"""Dagster pieces built from templates: assets, checks, jobs, schedules, the alert sensor, retention."""
