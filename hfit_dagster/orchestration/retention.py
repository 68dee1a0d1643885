"""Retention: keep each template's newest versions (and none older than its limit); LATEST is never removed."""

import dagster as dg

from hfit_dagster.orchestration.resources import HfitResource
from hfit_dagster.package.store import PackageStore
from hfit_dagster.template.loader import discover_templates


@dg.op(description="Remove package versions beyond each template's retention")
def prune_packages(context: dg.OpExecutionContext, hfit: HfitResource) -> int:
    settings = hfit.settings()
    store = PackageStore(settings.package_store)
    removed = 0
    for name, found in discover_templates(settings.templates_dir).items():
        retention = found.spec.retention
        gone = store.prune(name, retention.keep_versions, retention.max_age_days)
        removed += len(gone)
        if gone:
            context.log.info(f"{name}: removed {len(gone)} old version(s)")
    return removed


@dg.job(description="Apply every template's retention to the package store")
def hfit_retention() -> None:
    prune_packages()


retention_schedule = dg.ScheduleDefinition(name="hfit_retention_daily", job=hfit_retention, cron_schedule="0 3 * * *",
                                           default_status=dg.DefaultScheduleStatus.RUNNING)
