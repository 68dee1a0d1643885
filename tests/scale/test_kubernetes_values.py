"""docker/kubernetes/ holds what an operator applies to a cluster; no cluster runs here, so these tests check the
files against the schemas installed with dagster-k8s: Dagster's config schemas and the Kubernetes API models.

- Every manifest is read into its Kubernetes model strictly: a field the model does not have, at any depth, is an
  error (dagster-k8s's reader over the ``kubernetes`` client's models), as are a missing required field and a
  value of the wrong type.
- The Helm values are turned into the ``dagster.yaml`` Dagster's chart renders from them (``chart_instance``:
  the chart's ``configmap-instance.yaml`` and ``_helpers.tpl`` for the keys these values use, written out here),
  and Dagster opens that instance on the local PostgreSQL: the K8sRunLauncher config passes its schema, and the
  Job it would create for a run is built and read back as a valid ``V1Job`` carrying hfit's settings, secrets
  and package store.
- The top-level, user deployment and run launcher keys are ones the chart's values schema has (its key lists are
  written out here), the Kubernetes-typed values are valid models, and the module the user deployment serves
  loads as a code location (``dagster definitions validate``).
- Every HFIT_* variable the files set is a setting hfit reads.

Not checked here: the chart's values.schema.json as a whole (types, required keys; it is in no installed package
and public repository files stay out of this one: ``helm lint`` with the chart checks it, see docs/deployment.md)
and anything only a cluster can say (storage class, RBAC, images).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
import kubernetes.client as k8s
import pytest
import yaml
from dagster._config import process_config, resolve_to_config_type
from dagster._core.instance.config import dagster_instance_config
from dagster_k8s import K8sRunLauncher
from dagster_k8s.container_context import K8sContainerContext
from dagster_k8s.job import construct_dagster_k8s_job, get_job_name_from_run_id
from dagster_k8s.models import k8s_model_from_dict, k8s_snake_case_dict
from kubernetes.client import ApiClient

from hfit_dagster.settings import PROVIDER_ENV_PREFIX, PROVIDER_ENV_SUFFIX, HfitSettings
from tests.conftest import REPO, TEMPLATES, TEST_MASKING_KEY

KUBERNETES = REPO / "docker" / "kubernetes"
VALUES_FILE = KUBERNETES / "dagster-values.yaml"
MANIFESTS = ("hfit-config.yaml", "hfit-packages-pvc.yaml", "hfit-api.yaml")
RELEASE = "dagster"  # the release name docs/deployment.md installs the chart as
NAMESPACE = "hfit"
IMAGE = "registry.example.com/hfit:1.0.0"
MODELS: dict[tuple[str, str], type] = {
    ("v1", "ConfigMap"): k8s.V1ConfigMap,
    ("v1", "PersistentVolumeClaim"): k8s.V1PersistentVolumeClaim,
    ("v1", "Service"): k8s.V1Service,
    ("apps/v1", "Deployment"): k8s.V1Deployment,
}
# Keys the chart's values.schema.json (helm/dagster of dagster-io/dagster, 1.13 series) has at the top level and
# for a user deployment; the schema itself is not installed anywhere here (see the module docstring).
CHART_TOP_LEVEL_KEYS = frozenset({
    "dagsterWebserver", "dagster-user-deployments", "postgresql", "generatePostgresqlPasswordSecret",
    "generateCeleryConfigSecret", "rabbitmq", "redis", "flower", "ingress", "imagePullSecrets", "computeLogManager",
    "scheduler", "runLauncher", "pythonLogs", "dagsterDaemon", "busybox", "migrate", "telemetry", "serviceAccount",
    "global", "retention", "additionalInstanceConfig",
})
USER_DEPLOYMENT_KEYS = frozenset({
    "name", "image", "dagsterApiGrpcArgs", "codeServerArgs", "includeConfigInLaunchedRuns", "deploymentNamespace",
    "port", "env", "envConfigMaps", "envSecrets", "annotations", "nodeSelector", "affinity", "tolerations",
    "podSecurityContext", "securityContext", "resources", "livenessProbe", "readinessProbe", "startupProbe", "labels",
    "volumeMounts", "volumes", "schedulerName", "initContainers", "sidecarContainers",
})
# a user deployment's values that are Kubernetes objects, and their models
USER_DEPLOYMENT_MODELS: dict[str, type] = {
    "envConfigMaps": k8s.V1ConfigMapEnvSource, "envSecrets": k8s.V1SecretEnvSource,
    "podSecurityContext": k8s.V1PodSecurityContext, "securityContext": k8s.V1SecurityContext,
    "resources": k8s.V1ResourceRequirements, "volumes": k8s.V1Volume, "volumeMounts": k8s.V1VolumeMount,
    "env": k8s.V1EnvVar,
}


def strict(model_class: type, data: Mapping[str, Any]) -> Any:
    """``data`` (camelCase, as in a manifest) as an instance of the Kubernetes model, refusing unknown fields."""
    return k8s_model_from_dict(model_class, k8s_snake_case_dict(model_class, data))


def documents(name: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all((KUBERNETES / name).read_text()) if doc]


def values() -> dict[str, Any]:
    data = yaml.safe_load(VALUES_FILE.read_text())
    assert isinstance(data, dict)
    return data


def manifest(kind: str, name: str) -> dict[str, Any]:
    found = [doc for file in MANIFESTS for doc in documents(file)
             if doc["kind"] == kind and doc["metadata"]["name"] == name]
    assert len(found) == 1, (kind, name)
    return found[0]


def image_env() -> dict[str, str]:
    """ENV of the image's runtime stage (docker/Dockerfile)."""
    runtime = (REPO / "docker" / "Dockerfile").read_text().replace("\\\n", " ").rsplit("\nFROM ", 1)[1]
    env: dict[str, str] = {}
    for line in runtime.splitlines():
        if line.startswith("ENV "):
            env.update(pair.split("=", 1) for pair in line[4:].split())
    return env


# --- the chart, for the keys these values use ---------------------------------------------------------------------

# chart key of runLauncher.config.k8sRunLauncher (every key its values schema allows; it refuses others) ->
# K8sRunLauncher config field (the chart's template dagsterYaml.runLauncher.k8s)
RUN_LAUNCHER_KEYS = {
    "loadInclusterConfig": "load_incluster_config", "kubeconfigFile": "kubeconfig_file",
    "jobNamespace": "job_namespace", "imagePullPolicy": "image_pull_policy", "image": "job_image",
    "envConfigMaps": "env_config_maps", "envSecrets": "env_secrets", "envVars": "env_vars",
    "volumeMounts": "volume_mounts", "volumes": "volumes", "labels": "labels", "resources": "resources",
    "failPodOnRunFailure": "fail_pod_on_run_failure", "schedulerName": "scheduler_name",
    "securityContext": "security_context", "runK8sConfig": "run_k8s_config",
}
RUN_K8S_CONFIG_KEYS = {"containerConfig": "container_config", "podSpecConfig": "pod_spec_config",
                       "podTemplateSpecMetadata": "pod_template_spec_metadata",
                       "jobSpecConfig": "job_spec_config", "jobMetadata": "job_metadata"}


def chart_run_launcher(chart_values: Mapping[str, Any]) -> dict[str, Any]:
    """The ``run_launcher`` section the chart renders for ``runLauncher.type: K8sRunLauncher``."""
    launcher = chart_values["runLauncher"]
    assert launcher["type"] == "K8sRunLauncher"
    settings = launcher["config"]["k8sRunLauncher"]
    unknown = set(settings) - set(RUN_LAUNCHER_KEYS)
    assert not unknown, f"keys the chart's k8sRunLauncher values do not have: {unknown}"
    glob = chart_values["global"]
    config: dict[str, Any] = {
        "load_incluster_config": settings["loadInclusterConfig"],
        "job_namespace": settings.get("jobNamespace") or NAMESPACE,
        "image_pull_policy": settings["imagePullPolicy"],
        "service_account_name": RELEASE,
        "dagster_home": glob["dagsterHome"],
        "instance_config_map": f"{RELEASE}-instance",
        "postgres_password_secret": glob["postgresqlSecretName"],
    }
    for key, field in RUN_LAUNCHER_KEYS.items():
        value = settings.get(key)
        if field in config or not value:
            continue
        if key in ("envConfigMaps", "envSecrets"):
            value = [ref["name"] for ref in value if "name" in ref]
        elif key == "runK8sConfig":
            assert not set(value) - set(RUN_K8S_CONFIG_KEYS), value
            value = {RUN_K8S_CONFIG_KEYS[part]: spec for part, spec in value.items() if spec}
        elif key == "failPodOnRunFailure":
            value = True
        config[field] = value
    return {"module": "dagster_k8s", "class": "K8sRunLauncher", "config": config}


def chart_instance(chart_values: Mapping[str, Any]) -> dict[str, Any]:
    """The ``dagster.yaml`` of the chart's ConfigMap ``<release>-instance`` for these values."""
    pg = chart_values["postgresql"]
    postgres_db = {"username": pg["postgresqlUsername"], "password": {"env": "DAGSTER_PG_PASSWORD"},
                   "hostname": pg["postgresqlHost"], "db_name": pg["postgresqlDatabase"],
                   "port": pg["service"]["port"], "params": pg.get("postgresqlParams") or {}}
    if pg.get("postgresqlScheme"):
        postgres_db["scheme"] = pg["postgresqlScheme"]
    storage = {"config": {"postgres_db": postgres_db}}
    daemon = chart_values["dagsterDaemon"]
    queued = daemon["runCoordinator"]["config"]["queuedRunCoordinator"]
    monitoring = daemon["runMonitoring"]
    return {
        "scheduler": {"module": "dagster.core.scheduler", "class": "DagsterDaemonScheduler"},
        "schedule_storage": {"module": "dagster_postgres.schedule_storage", "class": "PostgresScheduleStorage",
                             **storage},
        "run_launcher": chart_run_launcher(chart_values),
        "run_storage": {"module": "dagster_postgres.run_storage", "class": "PostgresRunStorage", **storage},
        "event_log_storage": {"module": "dagster_postgres.event_log", "class": "PostgresEventLogStorage",
                              **storage},
        "run_coordinator": {"module": "dagster.core.run_coordinator", "class": "QueuedRunCoordinator",
                            "config": {"max_concurrent_runs": queued["maxConcurrentRuns"]}},
        "run_monitoring": {"enabled": monitoring["enabled"],
                           "start_timeout_seconds": monitoring["startTimeoutSeconds"],
                           "poll_interval_seconds": monitoring["pollIntervalSeconds"]},
        "telemetry": {"enabled": chart_values["telemetry"]["enabled"]},
    }


OFFLINE_KUBECONFIG = {
    "apiVersion": "v1", "kind": "Config", "current-context": "none",
    "clusters": [{"name": "none", "cluster": {"server": "https://127.0.0.1:9"}}],
    "users": [{"name": "none", "user": {"token": "none"}}],
    "contexts": [{"name": "none", "context": {"cluster": "none", "user": "none"}}],
}


@pytest.fixture
def chart_dagster_instance(tmp_path: Path, postgres_database: Callable[[], str],
                           monkeypatch: pytest.MonkeyPatch) -> Iterator[dg.DagsterInstance]:
    """The instance the chart renders from the values, on a throwaway database of the local PostgreSQL, its run
    launcher reading a kubeconfig of no cluster instead of the in-cluster service account (nothing is sent)."""
    chart_values = values()
    chart_values["postgresql"].update(postgresqlHost="127.0.0.1", postgresqlUsername="postgres",
                                      postgresqlDatabase=postgres_database())
    instance_config = chart_instance(chart_values)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(OFFLINE_KUBECONFIG))
    instance_config["run_launcher"]["config"].update(load_incluster_config=False, kubeconfig_file=str(kubeconfig))
    home = tmp_path / "dagster-home"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(instance_config))
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", "")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        yield instance


# --- tests ---------------------------------------------------------------------------------------------------------

def test_every_manifest_is_a_valid_kubernetes_object() -> None:
    """`kubectl apply -f docker/kubernetes/` would be given objects of known kinds whose every field exists in
    the Kubernetes API (a misspelt field is refused here rather than dropped or rejected by the cluster)."""
    kinds = []
    for name in MANIFESTS:
        for doc in documents(name):
            model = MODELS[(doc["apiVersion"], doc["kind"])]
            assert isinstance(strict(model, doc), model)
            kinds.append(doc["kind"])
    assert sorted(kinds) == ["ConfigMap", "Deployment", "PersistentVolumeClaim", "Service"]
    misspelt = manifest("Deployment", "hfit-api")
    misspelt["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimname"] = "hfit-packages"
    with pytest.raises(Exception, match="Unexpected keys in model class V1PersistentVolumeClaimVolumeSource"):
        strict(k8s.V1Deployment, misspelt)
    unnamed = manifest("Deployment", "hfit-api")
    del unnamed["spec"]["template"]["spec"]["containers"][0]["name"]
    with pytest.raises(ValueError, match="`name`, must not be `None`"):
        strict(k8s.V1Deployment, unnamed)


@pytest.mark.postgres
def test_the_instance_the_chart_renders_opens_with_the_k8s_run_launcher(
        chart_dagster_instance: dg.DagsterInstance) -> None:
    """Dagster accepts the instance config the chart makes from these values: PostgreSQL storage, the run queue
    at eight runs, monitoring, and a K8sRunLauncher whose config passes dagster-k8s's schema."""
    instance = chart_dagster_instance
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    assert instance.get_runs() == []
    assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
    assert instance.run_coordinator.get_run_queue_config().max_concurrent_runs == 8
    assert instance.run_monitoring_enabled and not instance.telemetry_enabled
    launcher = instance.run_launcher
    assert isinstance(launcher, K8sRunLauncher)
    assert launcher.job_namespace == NAMESPACE and launcher.instance_config_map == f"{RELEASE}-instance"
    rendered = chart_run_launcher(values())["config"]
    schema = resolve_to_config_type(K8sRunLauncher.config_type())
    assert process_config(schema, rendered).success
    assert not process_config(schema, rendered | {"volume_mount": []}).success  # the schema does refuse typos


@pytest.mark.postgres
def test_a_run_is_a_kubernetes_job_with_hfits_settings_secrets_and_package_store(
        chart_dagster_instance: dg.DagsterInstance) -> None:
    """The Job the K8sRunLauncher creates for a build (as it does in launch_run, without sending it) is a valid
    V1Job of the hfit image that reads hfit-config and hfit-secrets, mounts the PVC hfit-packages where the image
    keeps its package store, runs as the image's user and carries the run resources."""
    launcher = chart_dagster_instance.run_launcher
    assert isinstance(launcher, K8sRunLauncher)
    run = dg.DagsterRun(job_name="build_payment_incident", run_id=str(uuid.uuid4()))
    context = K8sContainerContext.create_for_run(run, launcher, include_run_tags=False)
    job_name = get_job_name_from_run_id(run.run_id)
    job = construct_dagster_k8s_job(
        job_config=context.get_k8s_job_config(job_image=IMAGE, run_launcher=launcher),
        args=["dagster", "api", "execute_run", "{}"], job_name=job_name, pod_name=job_name,
        component="run_worker", user_defined_k8s_config=context.run_k8s_config,
        labels={"dagster/job": run.job_name, "dagster/run-id": run.run_id})
    serialized = ApiClient().sanitize_for_serialization(job)
    strict(k8s.V1Job, serialized)
    pod = serialized["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == IMAGE
    sources = {(kind, ref["name"]) for source in container["envFrom"] for kind, ref in source.items()}
    assert {("configMapRef", "hfit-config"), ("secretRef", "hfit-secrets")} <= sources
    claims = {v["name"]: v["persistentVolumeClaim"]["claimName"]
              for v in pod["volumes"] if "persistentVolumeClaim" in v}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert claims == {"packages": "hfit-packages"}
    assert mounts["packages"] == image_env()["HFIT_STORE_DIR"]
    assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsUser"] == 10001
    assert container["resources"]["limits"]["memory"] == "4Gi"
    assert serialized["spec"]["ttlSecondsAfterFinished"] == 86400


def test_the_user_deployment_serves_the_images_code_location(tmp_path: Path) -> None:
    """The chart's user deployment `hfit` has only keys the chart knows, valid Kubernetes values, the API's image,
    and serves the module the image installs from docker/code_location.py, which loads as a Dagster code location
    with the ConfigMap's settings (HFIT_DAGSTER_EXECUTOR=k8s is tests/orchestration/test_executor_settings.py's)."""
    assert set(values()) <= CHART_TOP_LEVEL_KEYS, set(values()) - CHART_TOP_LEVEL_KEYS
    section = values()["dagster-user-deployments"]
    assert section["enabled"] and section["enableSubchart"]
    (deployment,) = section["deployments"]
    assert deployment["name"] == "hfit" and isinstance(deployment["port"], int)
    assert set(deployment) <= USER_DEPLOYMENT_KEYS, set(deployment) - USER_DEPLOYMENT_KEYS
    for key, model in USER_DEPLOYMENT_MODELS.items():
        value = deployment.get(key)
        for item in (value if isinstance(value, list) else [value] if value else []):
            strict(model, item)
    args = deployment["dagsterApiGrpcArgs"]
    assert args[:1] == ["-m"]
    module = args[1]
    copies = (REPO / "docker" / "Dockerfile").read_text()
    assert f"COPY docker/code_location.py /app/code_location/{module}.py" in copies
    assert image_env()["PYTHONPATH"] == "/app/code_location"
    image = deployment["image"]
    (api,) = manifest("Deployment", "hfit-api")["spec"]["template"]["spec"]["containers"]
    assert f"{image['repository']}:{image['tag']}" == api["image"] == IMAGE  # one image, one tag to change

    code = tmp_path / "code_location"
    code.mkdir()
    shutil.copy(REPO / "docker" / "code_location.py", code / f"{module}.py")
    settings = manifest("ConfigMap", "hfit-config")["data"]
    base = {k: v for k, v in os.environ.items() if not k.startswith(("HFIT_", "DAGSTER_"))}
    base.update(settings, PYTHONPATH=os.pathsep.join([str(code), str(REPO)]), HFIT_HOME=str(tmp_path / "home"),
                HFIT_TEMPLATES_DIR=str(TEMPLATES), HFIT_MASKING_KEY=TEST_MASKING_KEY,
                DAGSTER_HOME=str(tmp_path / "dagster"))
    (tmp_path / "dagster").mkdir()
    dagster = Path(sys.executable).with_name("dagster")
    done = subprocess.run([str(dagster), "definitions", "validate", *args], env=base, capture_output=True,
                          text=True, timeout=240, cwd=tmp_path)
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-3000:])


def test_every_hfit_variable_the_files_set_is_a_setting_hfit_reads() -> None:
    """A misspelt HFIT_* name in a manifest or the Secret's key list would be ignored silently by hfit: each one
    is a field of HfitSettings (or a provider URL), and every Secret and ConfigMap the files refer to is one of
    hfit-secrets, hfit-config or the chart's."""
    names = set(manifest("ConfigMap", "hfit-config")["data"])
    names |= {line.split("=", 1)[0] for line in (KUBERNETES / "hfit-secrets.env.example").read_text().splitlines()
              if line and not line.startswith("#")}
    (container,) = manifest("Deployment", "hfit-api")["spec"]["template"]["spec"]["containers"]
    names |= {item["name"] for item in container["env"]}
    settings_names = {f"HFIT_{name.upper()}" for name in HfitSettings.model_fields}
    for field in HfitSettings.model_fields.values():
        for alias in getattr(field.validation_alias, "choices", []):
            settings_names.add(str(alias).upper())
    provider = re.compile(rf"^{PROVIDER_ENV_PREFIX}[A-Z0-9_]+{PROVIDER_ENV_SUFFIX}$")
    for name in sorted(n for n in names if n.startswith("HFIT_")):
        assert name in settings_names or provider.match(name), f"{name} is not a setting hfit reads"
    assert {"HFIT_MASKING_KEY", "HFIT_STATE_URL", "HFIT_ALERT_SECRET"} <= names

    chart = values()
    referenced = {ref["name"] for ref in container["envFrom"] for ref in ref.values()}
    launcher = chart["runLauncher"]["config"]["k8sRunLauncher"]
    referenced |= {ref["name"] for ref in launcher["envSecrets"] + launcher["envConfigMaps"]}
    (deployment,) = chart["dagster-user-deployments"]["deployments"]
    referenced |= {ref["name"] for ref in deployment["envSecrets"] + deployment["envConfigMaps"]}
    assert referenced == {"hfit-config", "hfit-secrets"}
    (pg_password,) = [item for item in container["env"] if item["name"] == "DAGSTER_PG_PASSWORD"]
    assert pg_password["valueFrom"]["secretKeyRef"]["name"] == chart["global"]["postgresqlSecretName"]


def test_the_api_submits_to_the_charts_instance_and_workspace() -> None:
    """hfit serve in the cluster uses the chart's dagster.yaml as its DAGSTER_HOME's (one instance: same storage,
    same queue) and the chart's workspace (the user deployment's gRPC server), and leaves dequeuing to the chart's
    daemon."""
    pod = manifest("Deployment", "hfit-api")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {item["name"]: item.get("value") for item in container["env"]}
    mounts = {mount["mountPath"]: mount for mount in container["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    instance = mounts[f"{env['DAGSTER_HOME']}/dagster.yaml"]
    assert instance["subPath"] == "dagster.yaml"
    assert volumes[instance["name"]]["configMap"]["name"] == f"{RELEASE}-instance"
    workspace = Path(env["HFIT_DAGSTER_WORKSPACE"])
    assert workspace.name == "workspace.yaml"
    assert volumes[mounts[str(workspace.parent)]["name"]]["configMap"]["name"] == f"{RELEASE}-workspace-yaml"
    assert env["HFIT_DAGSTER_DAEMON"] == "external" and values()["dagsterDaemon"]["enabled"]
    (chown,) = [line for line in (REPO / "docker" / "Dockerfile").read_text().splitlines() if "chown -R hfit" in line]
    assert env["DAGSTER_HOME"] in chown.split()  # a directory of the image that hfit owns (it writes run data)


def test_the_instance_config_structure_is_dagsters(tmp_path: Path) -> None:
    """The rendered dagster.yaml as a whole passes Dagster's instance schema (sections and class references)."""
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(chart_instance(values())))
    config, _instance_class = dagster_instance_config(str(tmp_path))
    assert config["run_launcher"]["class"] == "K8sRunLauncher"
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(chart_instance(values()) | {"run_launchr": {}}))
    with pytest.raises(dg.DagsterInvalidConfigError):
        dagster_instance_config(str(tmp_path))
