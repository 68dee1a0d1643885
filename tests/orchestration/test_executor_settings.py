"""The executor of the jobs is chosen by the settings (the one place that reads the environment)."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest

from hfit_dagster.errors import HfitError
from hfit_dagster.orchestration.executors import executor_from_env
from tests.conftest import TEMPLATES


def test_the_executor_comes_from_the_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """HFIT_DAGSTER_EXECUTOR picks the executor (unset: in_process, multiprocess: Dagster's default); celery needs
    its broker setting, named in the error."""
    monkeypatch.setenv("HFIT_HOME", str(tmp_path))
    monkeypatch.delenv("HFIT_CELERY_BROKER_URL", raising=False)
    monkeypatch.setenv("HFIT_DAGSTER_EXECUTOR", "in_process")
    assert executor_from_env() is dg.in_process_executor
    monkeypatch.setenv("HFIT_DAGSTER_EXECUTOR", "celery")
    with pytest.raises(HfitError, match="HFIT_CELERY_BROKER_URL"):
        executor_from_env()
    monkeypatch.setenv("HFIT_CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
    assert executor_from_env().name == "hfit_celery"
    monkeypatch.setenv("HFIT_DAGSTER_EXECUTOR", "multiprocess")
    assert executor_from_env() is None
    monkeypatch.delenv("HFIT_DAGSTER_EXECUTOR")
    assert executor_from_env() is dg.in_process_executor


def test_k8s_runs_every_step_of_every_template_job_as_a_kubernetes_job(hfit_home: Path, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """HFIT_DAGSTER_EXECUTOR=k8s (docker/kubernetes/ on a cluster) puts every template's build job on dagster-k8s's
    executor, a Job per step; an unknown kind is refused with the four hfit knows."""
    from dagster_k8s import k8s_job_executor

    from hfit_dagster.definitions import build_definitions
    from hfit_dagster.orchestration.executors import with_executor

    monkeypatch.setenv("HFIT_DAGSTER_EXECUTOR", "k8s")
    executor = executor_from_env()
    assert executor is k8s_job_executor
    templates = tmp_path / "templates"
    templates.mkdir()
    for path in ("bug-investigation/payment-incident.yaml", "daily-development/daily-dev-scenario.yaml"):
        shutil.copy(TEMPLATES / path, templates)
    defs = with_executor(build_definitions(templates, home=hfit_home), executor)
    for job_name in ("build_payment_incident", "build_daily_dev_scenario"):
        assert defs.resolve_job_def(job_name).executor_def is k8s_job_executor
    monkeypatch.setenv("HFIT_DAGSTER_EXECUTOR", "kubernetes-please")
    with pytest.raises(HfitError, match="multiprocess, in_process, celery, k8s"):
        executor_from_env()
