"""The executor of the jobs is chosen by the settings (the one place that reads the environment)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from hfit_dagster.errors import HfitError
from hfit_dagster.orchestration.executors import executor_from_env


def test_the_executor_comes_from_the_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """HFIT_DAGSTER_EXECUTOR picks the executor; celery needs its broker setting, named in the error."""
    monkeypatch.setenv("HFIT_HOME", str(tmp_path))
    monkeypatch.delenv("HFIT_CELERY_BROKER_URL", raising=False)
    monkeypatch.setenv("HFIT_DAGSTER_EXECUTOR", "in_process")
    assert executor_from_env() is dg.in_process_executor
    monkeypatch.setenv("HFIT_DAGSTER_EXECUTOR", "celery")
    with pytest.raises(HfitError, match="HFIT_CELERY_BROKER_URL"):
        executor_from_env()
    monkeypatch.setenv("HFIT_CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
    assert executor_from_env().name == "hfit_celery"
    monkeypatch.delenv("HFIT_DAGSTER_EXECUTOR")
    assert executor_from_env() is None
