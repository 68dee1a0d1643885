"""The code location includes the templates made through the service's API (``<home>/templates``), so the
service's builds of them are runs of its jobs."""

from __future__ import annotations

from pathlib import Path

import pytest

from hfit_dagster.definitions import build_definitions
from hfit_dagster.orchestration.service_templates import service_templates
from tests.conftest import TEMPLATES

SOURCE = (TEMPLATES / "integration-testing" / "integration-test-suite.yaml").read_text()


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    """A templates/ folder with one template (loading every repository template costs seconds per call)."""
    folder = tmp_path / "repository-templates"
    folder.mkdir()
    (folder / "integration-test-suite.yaml").write_text(SOURCE)
    return folder


def _mirror(home: Path, name: str, status: str, extra: str = "") -> None:
    folder = home / "templates"
    folder.mkdir(parents=True, exist_ok=True)
    text = SOURCE.replace("templateName: integration-test-suite", f"templateName: {name}")
    (folder / f"{name}.yaml").write_text(text.replace("status: approved", f"status: {status}") + extra)


def test_api_templates_are_jobs_drafts_without_schedules_and_a_broken_mirror_is_skipped(hfit_home: Path,
                                                                                        repository: Path) -> None:
    """An approved API template is a job with its schedule like any repository template, a draft is a job for its
    dry runs but never scheduled, and a mirror that no longer validates does not take the location down."""
    schedule = '\nschedule: {cron: "0 8 * * 1-5"}\n'
    _mirror(hfit_home, "api-approved", "approved", schedule)
    _mirror(hfit_home, "api-draft", "draft", schedule)
    (hfit_home / "templates" / "broken.yaml").write_text("templateName: broken\nexports: [not, a, mapping]\n")
    assert set(service_templates(hfit_home)) == {"api-approved", "api-draft"}

    defs = build_definitions(repository, hfit_home)
    jobs = {job.name for job in defs.jobs or []}
    assert {"build_api_approved", "build_api_draft", "build_integration_test_suite"} <= jobs
    scheduled = {schedule.job_name for schedule in defs.schedules or []}
    assert "build_api_approved" in scheduled and "build_api_draft" not in scheduled


def test_an_approved_mirror_replaces_the_repository_template_of_its_name(hfit_home: Path, repository: Path) -> None:
    """After an approved revision of a repository template, the location builds the approved revision (the
    mirror), not the file in templates/."""
    def scheduled(home: Path) -> set[str]:
        return {schedule.job_name for schedule in build_definitions(repository, home).schedules or []}

    assert "build_integration_test_suite" not in scheduled(hfit_home)  # the repository file has no schedule
    _mirror(hfit_home, "integration-test-suite", "approved", '\nschedule: {cron: "0 8 * * 1-5"}\n')
    assert "build_integration_test_suite" in scheduled(hfit_home)
    jobs = [job.name for job in build_definitions(repository, hfit_home).jobs or []]
    assert jobs.count("build_integration_test_suite") == 1
