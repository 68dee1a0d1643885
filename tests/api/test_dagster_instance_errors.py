"""An operator's broken Dagster instance settings: the service says which file is wrong and how to fix it, in one
line, to the log and to every build requested meanwhile, instead of a traceback and an exception's class name."""

from __future__ import annotations

from pathlib import Path

import pytest

from hfit_api.dagster_instance import create_storage_here, prepare_instance
from hfit_dagster.errors import HfitError
from hfit_dagster.settings import HfitSettings


def _instance_file(settings: HfitSettings, text: str) -> Path:
    directory = settings.dagster_instance_dir
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "dagster.yaml").write_text(text)
    return directory / "dagster.yaml"


def test_a_dagster_yaml_that_is_not_yaml_is_named_with_its_line(settings: HfitSettings) -> None:
    """An edit that broke the YAML: the error names the file and the line, and says the file may be deleted."""
    path = _instance_file(settings, "telemetry:\n  enabled: false\nrun_coordinator: [not valid\n")
    with pytest.raises(HfitError) as raised:
        prepare_instance(settings, create_storage=lambda _directory: None)
    assert str(path.resolve()) in raised.value.message and "line" in raised.value.message
    assert raised.value.hint is not None and "delete it" in raised.value.hint


@pytest.mark.slow  # Dagster retries the connection for seconds
def test_storage_that_cannot_be_opened_is_named_without_echoing_the_settings(settings: HfitSettings) -> None:
    """Storage settings Dagster refuses (a password among them): the error names dagster.yaml and the kind of
    failure, and never repeats a setting's value."""
    path = _instance_file(settings, "storage:\n  postgres:\n    postgres_db: {hostname: 127.0.0.1, port: 1, "
                                    "username: hfit, password: not-a-real-secret-4711, db_name: none}\n")
    with pytest.raises(HfitError) as raised:
        prepare_instance(settings, create_storage=create_storage_here)
    text = f"{raised.value.message} {raised.value.hint}"
    assert str(path.parent.resolve()) in text and "dagster.yaml" in text
    assert "not-a-real-secret-4711" not in text
