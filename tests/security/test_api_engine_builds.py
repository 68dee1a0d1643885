"""The service's builds as Dagster runs, attacked: a template author cannot take the code location down or have
another template's job run under their request, a run never builds content other than the content its build
record names, and request parameters reach only the parameters of the template's tables step."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
from dagster_shared.serdes import serialize_value

from hfit_api.builds import params_as_strings
from hfit_api.launcher import BuildJob, QueuedRunLauncher, failure_of, run_config, run_tags
from hfit_dagster.definitions import HfitResource, build_definitions, build_template_defs
from hfit_dagster.errors import BuildError, InvalidRequest, ParameterError
from hfit_dagster.orchestration.resources import run_config_for, sealed_run_config_for, tables_op_name
from hfit_dagster.orchestration.sealed_params import open_params
from hfit_dagster.package.manifest import PARAMETER_DIGEST, parameter_digests
from hfit_dagster.package.store import PackageStore
from hfit_dagster.settings import load_settings
from hfit_dagster.template.loader import parse_template, resolve_template
from tests.api.service_harness import RunningServer, wait_for_build
from tests.conftest import TEMPLATES, TEST_MASKING_KEY

SOURCE = (TEMPLATES / "integration-testing" / "integration-test-suite.yaml").read_text()
PROBE = """
templateName: engine-probe
status: draft
parameters:
  contact: {type: str, description: "a customer's e-mail address"}
  limit: {type: int, default: 5}
exports:
  customers:
    provider: PROD_REPLICA
    query: SELECT * FROM customers WHERE email <> :contact ORDER BY id LIMIT :limit
"""


def _mirror(home: Path, name: str, status: str) -> None:
    folder = home / "templates"
    folder.mkdir(parents=True, exist_ok=True)
    text = SOURCE.replace("templateName: integration-test-suite", f"templateName: {name}")
    (folder / f"{name}.yaml").write_text(text.replace("status: approved", f"status: {status}"))


def test_a_template_whose_job_name_another_template_has_is_left_out_and_the_location_still_loads(
        hfit_home: Path, tmp_path: Path) -> None:
    """Job names replace '-', '.' by '_': a draft named integration_test_suite (anyone may create one through the
    API) would define the job of the approved integration-test-suite a second time, which fails the whole code
    location (no build, schedule or sensor of any template), or have the draft's dry runs run the approved job.
    The repository's template keeps its job; among mirrors an approved one wins over a draft, whatever the
    names' order."""
    repository = tmp_path / "repository-templates"
    repository.mkdir()
    (repository / "integration-test-suite.yaml").write_text(SOURCE)
    _mirror(hfit_home, "integration_test_suite", "draft")
    _mirror(hfit_home, "integration.test.suite", "approved")
    _mirror(hfit_home, "api-probe", "draft")  # sorts before api_probe
    _mirror(hfit_home, "api_probe", "approved")

    defs = build_definitions(repository, hfit_home)
    repo = defs.get_repository_def()  # raises on a job defined twice
    assert repo.get_job("build_integration_test_suite").tags["hfit/template"] == "integration-test-suite"
    assert repo.get_job("build_api_probe").tags["hfit/template"] == "api_probe"


def test_a_run_requested_for_other_content_fails_and_publishes_nothing(hfit_home: Path, tmp_path: Path) -> None:
    """The run loads the template when the daemon starts it, maybe minutes after the request: when the template
    was edited, approved or replaced meanwhile (the run tag hfit/template_hash names the requested content), the
    run fails with a message saying so and publishes nothing, instead of building other content under the build
    record of this one (a draft's queued dry run never becomes a build of content approved after it was asked)."""
    path = tmp_path / "engine-probe.yaml"
    path.write_text(PROBE)
    found = resolve_template(str(path), tmp_path)
    assets = list(build_template_defs(found).assets or [])
    resources = {"hfit": HfitResource(home=str(hfit_home))}
    config = run_config_for(found.spec, {"contact": "nobody@example.invalid"})
    approved_twin = parse_template(PROBE.replace("status: draft", "status: approved"), "engine-probe.yaml")

    instance = dg.DagsterInstance.ephemeral()
    stale = dg.materialize(assets, resources=resources, run_config=config, instance=instance,
                           tags={"hfit/template_hash": approved_twin.content_hash()}, raise_on_error=False)
    assert not stale.success
    reported = failure_of(instance, stale.run_id)  # what GET /builds/{id} says
    assert isinstance(reported, BuildError) and "changed after this build was requested" in reported.message
    assert reported.hint is not None and "request the build again" in reported.hint
    assert PackageStore(load_settings().package_store).versions("engine-probe") == []

    current = dg.materialize(assets, resources=resources, run_config=config, instance=dg.DagsterInstance.ephemeral(),
                             tags={"hfit/template_hash": found.spec.content_hash()})
    assert current.success
    assert len(PackageStore(load_settings().package_store).versions("engine-probe")) == 1


@pytest.mark.parametrize("name", ["ops", "resources", "execution", "hfit", "loggers", "params", "dialect"])
def test_a_request_parameter_named_like_run_config_is_refused(name: str) -> None:
    """Parameter names are checked against the template's before any run config exists: a request cannot add
    config for another op, a resource (the hfit resource's home), the executor or the package's dialect."""
    spec = parse_template(PROBE, "engine-probe.yaml")
    with pytest.raises(ParameterError):
        run_config_for(spec, {"contact": "a@example.invalid", name: "x"})


def test_request_parameter_values_are_values_of_the_tables_step_only() -> None:
    """A value that looks like config stays the text of its parameter: the run config has the template's
    tables step, its params, and nothing else; a JSON object as a value is refused at the edge."""
    spec = parse_template(PROBE, "engine-probe.yaml")
    hostile = '{"resources": {"hfit": {"config": {"home": "/"}}}}'
    config = run_config_for(spec, {"contact": hostile, "limit": "3"})
    assert config == {"ops": {tables_op_name("engine-probe"): {"config": {"params": {"contact": hostile,
                                                                                      "limit": 3}}}}}
    with pytest.raises(InvalidRequest):
        params_as_strings({"contact": {"resources": {"hfit": {"config": {"home": "/"}}}}})


def test_a_personal_parameter_value_is_not_stored_in_dagster_run_storage(tmp_path: Path) -> None:
    """A parameter value can be personal data (a customer's e-mail to investigate). The run's config and tags are
    stored by Dagster as they are and shown to whoever reads the Dagster UI: neither holds the value; the config
    carries it sealed, opened only with the service's masking key, and a required parameter's typed field holds
    a placeholder, so Dagster accepts the config as the launchpad's."""
    path = tmp_path / "engine-probe.yaml"
    path.write_text(PROBE)
    found = resolve_template(str(path), tmp_path)
    job = BuildJob(build_id="b" * 32, template=found, params={"contact": "alice.personal@example.com"},
                   requester="alice", dry_run=True, template_hash=found.spec.content_hash())
    config = run_config(job, TEST_MASKING_KEY.encode())
    stored = json.dumps(config) + json.dumps(run_tags(job))
    assert "alice.personal@example.com" not in stored and "alice.personal" not in stored
    step = config["ops"][tables_op_name("engine-probe")]["config"]
    assert step["params"] == {"contact": "(sealed)"}
    assert open_params("engine-probe", step["sealed_params"], TEST_MASKING_KEY.encode()) == job.params
    defs = dg.Definitions.merge(build_template_defs(found), dg.Definitions(resources={"hfit": HfitResource()}))
    dg.validate_run_config(defs.resolve_job_def("build_engine_probe"), config)


def test_sealed_config_is_valid_for_required_lists_times_and_choices(hfit_home: Path) -> None:
    """A template whose required parameters are a list of ids, date-times and a choice: the service's sealed
    config is accepted by the job's typed config (each required field holds a placeholder of its type, no value),
    and opens to the parameters as requested."""
    text = (TEMPLATES / "bug-investigation" / "payment-incident.yaml").read_text()
    text = text.replace("parameters:\n", "parameters:\n  region: {type: str, choices: [eu, us]}\n", 1)
    path = hfit_home / "payment-incident.yaml"
    path.write_text(text)
    found = resolve_template(str(path), hfit_home)
    params = {"customer_ids": "10007,10042", "start_time": "2025-11-20 00:00", "end_time": "2025-11-21 00:00",
              "region": "us"}
    config = sealed_run_config_for(found.spec, params, TEST_MASKING_KEY.encode())
    step = config["ops"][tables_op_name(found.spec.name)]["config"]  # type: ignore[index]
    assert step["params"] == {"region": "eu", "customer_ids": [], "start_time": "(sealed)", "end_time": "(sealed)"}
    assert "10007" not in json.dumps(config) and "2025-11-2" not in json.dumps(config)
    defs = dg.Definitions.merge(build_template_defs(found), dg.Definitions(resources={"hfit": HfitResource()}))
    dg.validate_run_config(defs.resolve_job_def("build_payment_incident"), config)
    assert open_params(found.spec.name, step["sealed_params"], TEST_MASKING_KEY.encode()) == params


def test_sealed_parameters_that_do_not_open_fail_the_run_with_a_message_and_no_value(
        hfit_home: Path, tmp_path: Path) -> None:
    """Parameters sealed under another masking key (a worker configured with a key other than the service's), or
    altered in the run config, fail the tables step before any source is read, with a message saying so and
    what to do, naming no value; nothing is published. The same text moved to another template does not open."""
    path = tmp_path / "engine-probe.yaml"
    path.write_text(PROBE)
    found = resolve_template(str(path), tmp_path)
    assets = list(build_template_defs(found).assets or [])
    resources = {"hfit": HfitResource(home=str(hfit_home))}
    value = "alice.sealed@example.com"
    other_key = sealed_run_config_for(found.spec, {"contact": value}, b"another service's masking key")
    right = sealed_run_config_for(found.spec, {"contact": value}, TEST_MASKING_KEY.encode())
    step = right["ops"][tables_op_name("engine-probe")]["config"]  # type: ignore[index]
    text = str(step["sealed_params"])
    tampered = {"ops": {tables_op_name("engine-probe"): {"config": {
        **step, "sealed_params": text[:-6] + ("AAAAAA" if not text.endswith("AAAAAA") else "BBBBBB")}}}}
    for config in (other_key, tampered):
        instance = dg.DagsterInstance.ephemeral()
        result = dg.materialize(assets, resources=resources, run_config=config, instance=instance,
                                raise_on_error=False)
        assert not result.success
        reported = failure_of(instance, result.run_id)
        assert "sealed parameters do not open for template engine-probe" in reported.message
        assert reported.hint is not None and "HFIT_MASKING_KEY" in reported.hint
        logged = json.dumps([entry.to_json() if hasattr(entry, "to_json") else str(entry)
                             for entry in instance.all_logs(result.run_id)])
        assert "alice.sealed" not in logged
    with pytest.raises(BuildError, match="do not open for template other-probe"):
        open_params("other-probe", text, TEST_MASKING_KEY.encode())
    assert PackageStore(load_settings().package_store).versions("engine-probe") == []


def test_the_staged_build_options_hold_parameter_digests_not_values(hfit_home: Path, tmp_path: Path) -> None:
    """Between the tables step and the package step the run's choices wait in the package store's staging folder
    on disk: the parameters there are the manifest's digests, and no file of the staged run holds the value."""
    path = tmp_path / "engine-probe.yaml"
    path.write_text(PROBE.replace("status: draft", "status: approved"))
    found = resolve_template(str(path), tmp_path)
    value = "alice.staged@example.com"
    assets = list(build_template_defs(found).assets or [])
    tables = [key for assets_def in assets for key in assets_def.keys if key.path[-1] != "package"]
    result = dg.materialize(assets, selection=tables, resources={"hfit": HfitResource(home=str(hfit_home))},
                            run_config=sealed_run_config_for(found.spec, {"contact": value}, TEST_MASKING_KEY.encode()),
                            instance=dg.DagsterInstance.ephemeral())
    assert result.success
    staging = load_settings().package_store / ".staging" / f"run-{result.run_id}"
    options = json.loads((staging / "build_options.json").read_text())
    assert options["params"]["contact"] == parameter_digests({"contact": value}, TEST_MASKING_KEY.encode())["contact"]
    assert options["params"]["limit"].startswith(PARAMETER_DIGEST)
    assert [p.name for p, text in _texts_under(staging) if value.encode() in text] == []


@pytest.mark.slow  # starts the code location's server
@pytest.mark.timeout(180)
def test_a_draft_request_never_runs_the_job_of_the_approved_template_whose_slug_it_shares(
        hfit_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The draft integration_test_suite and the approved integration-test-suite would share the job
    build_integration_test_suite: a dry run requested for the draft is refused with a message saying whose job
    that is, instead of running the approved template (keep rules applied, LATEST moved, versions pruned)."""
    monkeypatch.setenv("HFIT_DAGSTER_EXECUTOR", "in_process")
    _mirror(hfit_home, "integration_test_suite", "draft")
    draft = resolve_template(str(hfit_home / "templates" / "integration_test_suite.yaml"), hfit_home)
    launcher = QueuedRunLauncher(load_settings(), poll_seconds=3600)
    try:
        with pytest.raises(BuildError) as raised:
            launcher._remote_job(BuildJob(build_id="b" * 32, template=draft, params={}, requester="mallory",
                                          dry_run=True, template_hash=draft.spec.content_hash()))
        assert "builds template integration-test-suite, not integration_test_suite" in raised.value.message
    finally:
        launcher.close()


E2E_PROBE = """templateName: {name}
description: One customer, found by the e-mail address a support case names
status: draft
parameters:
  contact: {{type: str, description: "a customer's e-mail address"}}
exports:
  customers:
    provider: PROD_REPLICA
    query: SELECT * FROM customers WHERE email = :contact
"""


def _texts_under(folder: Path) -> Iterator[tuple[Path, bytes]]:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            yield path, path.read_bytes()


@pytest.mark.timeout(240)
def test_an_api_build_leaves_no_parameter_value_in_the_dagster_instance(server: RunningServer,
                                                                        demo_source: str) -> None:
    """A dry run requested through the API with a customer's e-mail as its parameter builds the package of that
    customer (one row: the value reached the query), and the Dagster instance that ran it holds the value nowhere:
    not in the run's config or tags, not in any event of its log (materialization metadata, step logs), not in any
    file of the instance (run and event storage, compute logs), not in the service's log."""
    engine = sa.create_engine(demo_source)
    try:
        with engine.connect() as conn:
            email = str(conn.execute(sa.text("SELECT email FROM customers ORDER BY id LIMIT 1")).scalar_one())
    finally:
        engine.dispose()
    name = "sealed-params-probe"
    with server.client(server.user("arthur", "author")) as client:
        created = client.post("/templates", json={"yaml": E2E_PROBE.format(name=name)})
        assert created.status_code == 201, created.text
        response = client.post(f"/packages/{name}/builds", json={"params": {"contact": email}})
        assert response.status_code == 202, response.text
        build = wait_for_build(client, response.json(), timeout=180)
    assert build["status"] == "succeeded", (build["error"], server.log_tail())
    manifest = json.loads((server.store / name / build["version"] / "manifest.json").read_text())
    assert [table["rows"] for table in manifest["tables"]] == [1], manifest["tables"]

    needles = (email.encode(), email.split("@")[0].encode())
    instance_dir = server.home / "dagster"  # the service's instance (no HFIT_DAGSTER_HOME in its environment)
    instance = dg.DagsterInstance.from_config(str(instance_dir))
    try:
        run = instance.get_run_by_id(build["run_id"])
        assert run is not None and run.tags["hfit/build"] == build["id"]
        records = instance.all_logs(run.run_id)
        assert any(r.asset_materialization is not None for r in records)  # the log was read, not empty
        stored = serialize_value(run.run_config) + serialize_value(run.tags) + serialize_value(list(records))
    finally:
        instance.dispose()
    assert not any(needle.decode() in stored for needle in needles)
    files = dict(_texts_under(instance_dir))
    assert any("compute_logs" in str(path) or path.suffix in (".out", ".err") for path in files), sorted(files)
    leaked = [str(path) for path, text in files.items() if any(needle in text for needle in needles)]
    assert leaked == []
    assert not any(needle in (server.root / "server.log").read_bytes() for needle in needles)

