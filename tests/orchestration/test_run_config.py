"""A template's parameters are its build job's typed run config: the launchpad shows each with its type,
default and description, Dagster refuses a run without a required one before anything runs, ``hfit build``'s
key=value strings convert to that config without loss, and a typed run publishes the package."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from typer.testing import CliRunner

from hfit_dagster.cli.main import app
from hfit_dagster.definitions import build_definitions
from hfit_dagster.errors import ParameterError
from hfit_dagster.orchestration.resources import HfitResource, run_config_for, tables_op_name
from hfit_dagster.orchestration.run_config import params_from_config
from hfit_dagster.orchestration.template_assets import build_template_defs
from hfit_dagster.package.store import PackageStore
from hfit_dagster.pipeline.local_build import build_package
from hfit_dagster.settings import HfitSettings
from hfit_dagster.template.builtins import BUILTINS, prepare_build
from hfit_dagster.template.loader import TemplateFile, parse_template, resolve_template
from tests.conftest import DEMO_NOW, TEMPLATES

INCIDENT = "payment-incident"
INCIDENT_PARAMS = {"customer_ids": "10007,10042", "start_time": "2025-11-20 00:00:00",
                   "end_time": DEMO_NOW.isoformat(sep=" ")}


def type_name(config_type: Any) -> str:
    """A config type as the launchpad names it: ``Int``, ``[Int]``, ``String?`` (nullable), ``Enum(a|b)``."""
    if isinstance(config_type, dg.Noneable):
        return f"{type_name(config_type.inner_type)}?"
    if isinstance(config_type, dg.Array):
        return f"[{type_name(config_type.inner_type)}]"
    if isinstance(config_type, dg.Enum):
        return "Enum(" + "|".join(v.config_value for v in config_type.enum_values) + ")"
    return str(config_type.given_name)


def params_fields(job: dg.JobDefinition, op_name: str) -> dict[str, Any]:
    """The ``params`` fields of the job's tables step: name → (type, required, default or None, description)."""
    ops = job.run_config_schema.config_type.fields["ops"].config_type
    params = ops.fields[op_name].config_type.fields["config"].config_type.fields["params"].config_type
    return {name: (type_name(f.config_type), f.is_required, f.default_value if f.default_provided else None,
                   f.description) for name, f in params.fields.items()}


@pytest.fixture
def defs(hfit_home: Path) -> dg.Definitions:
    return build_definitions(TEMPLATES, home=hfit_home)


def test_the_job_config_has_a_typed_field_per_parameter(defs: dg.Definitions) -> None:
    """The launchpad of payment-incident shows its three parameters, required, with their types and the
    template's descriptions (a date-time's accepted formats beside it), then the built-ins as optional."""
    fields = params_fields(defs.resolve_job_def("build_payment_incident"), tables_op_name(INCIDENT))
    assert list(fields)[:3] == ["customer_ids", "start_time", "end_time"]
    assert set(fields) == {"customer_ids", "start_time", "end_time"} | (set(BUILTINS) - {"start_time", "end_time"})
    kind, required, default, description = fields["customer_ids"]
    assert (kind, required, default) == ("[Int]", True, None)
    assert description.startswith("comma-separated customer ids, e.g. 12847,15923;")
    kind, required, default, description = fields["start_time"]
    assert (kind, required, default) == ("String", True, None)
    assert "window start" in description and "now-30m" in description and "YYYY-MM-DD HH:MM" in description
    assert fields["row_limit"][:3] == ("Int?", False, None) and "at least 1" in fields["row_limit"][3]
    assert fields["sample_rate"][:3] == ("Float?", False, None) and "at most 1" in fields["sample_rate"][3]
    assert fields["include_indexes"][:3] == ("Bool?", False, None) and "default true" in fields["include_indexes"][3]
    assert fields["start_date"][0] == "String?" and "last_30_days" in fields["start_date"][3]


def test_defaults_and_choices_are_shown_typed(defs: dg.Definitions) -> None:
    """Defaults appear as typed values (a relative date-time stays text, a comma list becomes a list);
    a text parameter with choices is an enumeration the launchpad completes and checks."""
    suite = params_fields(defs.resolve_job_def("build_integration_test_suite"),
                          tables_op_name("integration-test-suite"))
    assert suite["row_limit"][:3] == ("Int", False, 50) and "at most 100000" in suite["row_limit"][3]
    assert suite["since"][:3] == ("String", False, "now-30d")
    window = params_fields(defs.resolve_job_def("build_payment_incident_2024_1015"),
                           tables_op_name("payment-incident-2024-1015"))
    assert window["customer_ids"][:3] == ("[Int]", False, [12847, 15923, 18442])
    assert window["start_time"][:3] == ("String", False, "2024-10-15 14:30:00")
    segments = resolve_template("feature-flag-test-segments", TEMPLATES).spec
    (name, pspec), = ((n, p) for n, p in segments.parameters.items() if p.choices)
    fields = params_fields(defs.resolve_job_def("build_feature_flag_test_segments"),
                           tables_op_name(segments.name))
    assert fields[name][0].startswith("[Enum(") and all(c in fields[name][0] for c in pspec.choices)


def test_cli_strings_convert_to_the_config_without_loss(defs: dg.Definitions) -> None:
    """``run_config_for`` turns key=value strings into config the job accepts, and the step reads it back
    into exactly the parameters ``hfit build`` resolves from the same strings."""
    spec = resolve_template(INCIDENT, TEMPLATES).spec
    raw = {**INCIDENT_PARAMS, "row_limit": "25", "sample_rate": "0.5", "include_indexes": "no", "debug_mode": ""}
    config = run_config_for(spec, raw)
    values = config["ops"][tables_op_name(INCIDENT)]["config"]["params"]  # type: ignore[index]
    assert values == {"customer_ids": [10007, 10042], "start_time": "2025-11-20 00:00:00",
                      "end_time": "2026-11-20 00:00:00", "row_limit": 25, "sample_rate": 0.5,
                      "include_indexes": False}
    dg.validate_run_config(defs.resolve_job_def("build_payment_incident"), config)
    now = datetime(2026, 12, 1)
    from_config, from_cli = prepare_build(spec, params_from_config(values), now=now), prepare_build(spec, raw, now=now)
    assert from_config.params == from_cli.params and from_config.user_params == from_cli.user_params
    assert from_config.include_indexes is from_cli.include_indexes is False


def test_unknown_or_missing_parameters_raise_the_cli_error(hfit_home: Path) -> None:
    """Run config built for the API, a sensor or a schedule is refused with the message ``hfit build`` prints."""
    missing = {"start_time": INCIDENT_PARAMS["start_time"], "end_time": INCIDENT_PARAMS["end_time"]}
    with pytest.raises(ParameterError) as refused:
        run_config_for(INCIDENT, missing)
    cli = CliRunner().invoke(app, ["build", INCIDENT, *(f"{k}={v}" for k, v in missing.items())])
    assert cli.exit_code != 0 and refused.value.message in " ".join(cli.output.split())
    assert "customer_ids" in refused.value.message and "required" in refused.value.message
    with pytest.raises(ParameterError, match="unknown parameter customer for template 'payment-incident'"):
        run_config_for(INCIDENT, {**INCIDENT_PARAMS, "customer": "1"})


def test_a_run_without_a_required_parameter_is_refused_before_any_step(hfit_home: Path) -> None:
    """As the launchpad sends it (config typed by hand, customer_ids left out), Dagster refuses the run config
    naming the missing parameter; no run is created and no step runs."""
    found = resolve_template(INCIDENT, TEMPLATES)
    instance = dg.DagsterInstance.ephemeral()
    launchpad = {"ops": {tables_op_name(INCIDENT): {"config": {"params": {
        "start_time": INCIDENT_PARAMS["start_time"], "end_time": INCIDENT_PARAMS["end_time"]}}}}}
    with pytest.raises(dg.DagsterInvalidConfigError, match='Missing required config entry "customer_ids"'):
        dg.materialize(list(build_template_defs(found).assets or []), run_config=launchpad, instance=instance,
                       resources={"hfit": HfitResource(home=str(hfit_home))})
    assert instance.get_runs() == []


def test_a_bound_the_config_cannot_express_fails_the_step_with_the_cli_message(hfit_home: Path) -> None:
    """A value of the right type outside the template's bounds fails the tables step with ``hfit build``'s
    message (a Failure, not a traceback of hfit's code); nothing is published."""
    found = resolve_template("integration-test-suite", TEMPLATES)
    config = {"ops": {tables_op_name(found.spec.name): {"config": {"params": {"row_limit": 0}}}}}
    result = dg.materialize(list(build_template_defs(found).assets or []), run_config=config,
                            instance=dg.DagsterInstance.ephemeral(), raise_on_error=False,
                            resources={"hfit": HfitResource(home=str(hfit_home))})
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    error = failure.step_failure_data.error  # type: ignore[union-attr]
    assert error.cls_name == "Failure" and "parameter 'row_limit' must be at least 1" in error.message
    assert PackageStore(hfit_home / "packages").versions(found.spec.name) == []


def test_a_typed_run_publishes_the_package_hfit_build_publishes(hfit_home: Path, settings: HfitSettings) -> None:
    """Launchpad-style typed config (a list of ids, date-time text) builds payment-incident from the demo source:
    the same tables and rows as ``hfit build`` with the same parameters as strings."""
    found = resolve_template(INCIDENT, TEMPLATES)
    typed = {"customer_ids": [10007, 10042], "start_time": INCIDENT_PARAMS["start_time"],
             "end_time": INCIDENT_PARAMS["end_time"]}
    result = dg.materialize(list(build_template_defs(found).assets or []),
                            run_config={"ops": {tables_op_name(INCIDENT): {"config": {"params": typed}}}},
                            instance=dg.DagsterInstance.ephemeral(),
                            resources={"hfit": HfitResource(home=str(hfit_home))})
    assert result.success
    store = PackageStore(settings.package_store)
    from_dagster = json.loads((store.package_dir(INCIDENT) / "manifest.json").read_text())
    local = build_package(found.spec, INCIDENT_PARAMS, settings).manifest
    rows = {t["name"]: t["rows"] for t in from_dagster["tables"]}
    assert rows == {t.name: t.rows for t in local.tables} and rows["customers"] == 2
    assert from_dagster["params"] == local.params


def test_a_schedule_missing_a_required_parameter_fails_its_ticks_not_the_code_location() -> None:
    """A schedule whose params lack a required parameter still loads with the other definitions; each tick
    fails with the CLI's message instead of starting a run that cannot build."""
    text = (TEMPLATES / "bug-investigation" / "payment-incident.yaml").read_text()
    spec = parse_template(text + 'schedule: {cron: "0 8 * * *", params: {start_time: now-1d, end_time: now}}\n')
    defs = dg.Definitions.merge(build_template_defs(TemplateFile(spec=spec, path=Path("payment-incident.yaml"),
                                                                 folder="")),
                                dg.Definitions(resources={"hfit": HfitResource()}))
    dg.Definitions.validate_loadable(defs)
    with pytest.raises(dg.DagsterError) as failed:
        defs.schedules[0].evaluate_tick(  # type: ignore[index, union-attr]
            dg.build_schedule_context(resources={"hfit": HfitResource()}))
    cause = failed.value.__cause__
    assert isinstance(cause, ParameterError)
    assert cause.message == "parameter 'customer_ids' (list[int]) is required by template 'payment-incident'"
