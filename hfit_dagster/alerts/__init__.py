"""Alerts: stored durably by the API, matched to templates by their ``triggers``, turned into builds."""
