"""The alert sensor: stored alerts → one build run per (alert, matching template), exactly once.

The cursor is the id of the last alert looked at; every run request carries ``run_key =
alert-<id>-<template>``, which Dagster never launches twice, so a lost cursor or a restarted daemon
cannot duplicate a run.

An alert's parameters come from its payload (customer ids, an e-mail address), so a run request carries them
sealed (``sealed_params.py``, under the masking key the sensor's settings hold) as the service's builds do:
Dagster stores and shows run config, run keys and tags as they are given, and these name the alert and the
template only. A payload whose parameters the template refuses is logged without the refused value.

The store keeps payloads sealed (``alerts/sealed_payload.py``); the sensor opens them in memory with the same
masking key, records which alerts it consumed and for which templates, and empties the payloads of consumed alerts
older than ``alert_retention_days``.

A payload that does not open is handled per alert. When another payload of the same tick opens, the key is right and
that one was altered in the database or sealed under an earlier key: it is marked ``unopened`` (payload emptied,
never read again), logged by its id, and the later alerts go on. When none of the tick's payloads opens, the key
most likely differs from the service's: nothing is marked, the cursor stays, and the alerts are read again once
the key is right. A missing masking key fails the tick, the cursor staying too.
"""

from datetime import timedelta
from typing import Any

import dagster as dg

from hfit_dagster.alerts.matching import matches, params_for
from hfit_dagster.alerts.store import AlertStore, PendingAlerts, StoredAlert
from hfit_dagster.errors import ParameterError
from hfit_dagster.orchestration.parameter_refusals import without_value
from hfit_dagster.orchestration.resources import HfitResource, job_name, sealed_run_config_for
from hfit_dagster.template.spec import TemplateSpec

SENSOR_NAME = "hfit_alerts"


def build_alert_sensor(specs: list[TemplateSpec], jobs: list[Any],
                       batch: int = 200) -> dg.SensorDefinition | None:
    triggered = [s for s in specs if s.triggers is not None and s.triggers.alerts is not None]
    if not triggered:
        return None
    wanted = {job_name(s.name) for s in triggered}

    @dg.sensor(name=SENSOR_NAME, jobs=[j for j in jobs if j.name in wanted], minimum_interval_seconds=15,
               default_status=dg.DefaultSensorStatus.RUNNING,
               description="Builds the templates whose `triggers.alerts` match alerts posted to the API")
    def alerts_sensor(context: dg.SensorEvaluationContext, hfit: HfitResource) -> dg.SensorResult:
        settings = hfit.settings()
        key = settings.masking_key_bytes()
        store = AlertStore(settings.state_database_url, key)
        try:
            pending = store.pending(int(context.cursor or 0), limit=batch)
            if pending.unopened and not pending.opened:
                held = _held_reason(pending)
                context.log.warning(held)
                store.drop_expired_payloads(timedelta(days=settings.alert_retention_days))
                return dg.SensorResult(skip_reason=held, cursor=context.cursor)
            for alert in pending.unopened:
                context.log.warning(f"alert {alert.id}'s stored payload does not open with this masking key (altered, "
                                    "or sealed under an earlier key): marked unopened, its payload dropped, no run")
            store.mark_unopened([alert.id for alert in pending.unopened])
            requests = _run_requests(context, triggered, pending.opened, key)
            cursor = str(pending.last_id) if pending.last_id is not None else context.cursor
            templates: dict[int, list[str]] = {alert.id: [] for alert in pending.opened}
            for request in requests:
                templates[int(request.tags["hfit/alert"])].append(request.tags["hfit/template"])
            if cursor:
                store.mark_consumed(int(cursor), templates)
            store.drop_expired_payloads(timedelta(days=settings.alert_retention_days))
        finally:
            store.dispose()
        return dg.SensorResult(run_requests=requests, cursor=cursor)

    return alerts_sensor


def _held_reason(pending: PendingAlerts) -> str:
    """Why a tick none of whose pending payloads opens holds its cursor (counts only, never a value)."""
    count = len(pending.unopened)
    if not any(alert.sealed for alert in pending.unopened):
        return (f"{count} pending alert payload(s) are stored as received, not sealed: start the hfit service once "
                "(it seals them); the alerts are held until then")
    return (f"none of the {count} pending alert payload(s) opens with this code location's masking key: it likely "
            "differs from the service's HFIT_MASKING_KEY; the alerts are held until the keys match")


def _run_requests(context: dg.SensorEvaluationContext, triggered: list[TemplateSpec], new: list[StoredAlert],
                  key: bytes) -> list[dg.RunRequest]:
    """One run request per (alert, matching template) whose parameters the template takes, parameters sealed."""
    requests = []
    for alert in new:
        for spec in triggered:
            if not matches(spec, alert):
                continue
            try:
                run_config = sealed_run_config_for(spec, params_for(spec, alert), key)
            except ParameterError as exc:
                context.log.warning(f"alert {alert.id} matches {spec.name} but its parameters do not: "
                                    f"{without_value(exc)}")
                continue
            requests.append(dg.RunRequest(
                run_key=f"alert-{alert.id}-{spec.name}", job_name=job_name(spec.name),
                run_config=run_config,
                tags={"hfit/template": spec.name, "hfit/alert": str(alert.id), "hfit/requester": "alert"},
            ))
    return requests
