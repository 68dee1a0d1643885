"""Which executor runs the steps of hfit's jobs: chosen by the environment, so one image fits every deployment.

``HFIT_DAGSTER_EXECUTOR``:

* unset or ``in_process``: every step in the run worker itself (a build's two steps run one after the other, so a
  process per step would add two interpreter starts and a definitions load each, and no parallelism);
* ``multiprocess``: Dagster's default executor (each step in a subprocess of the run worker);
* ``celery``: every step is a Celery task on the queue ``HFIT_CELERY_QUEUE`` (default ``dagster``), picked up by
  ``dagster-celery worker start`` processes on any machine that shares the package store; the broker and result
  backend URLs are read from ``HFIT_CELERY_BROKER_URL`` / ``HFIT_CELERY_BACKEND_URL`` when the run starts (they
  may hold a password, so they never appear in the run config stored by Dagster);
* ``k8s``: every step is a Kubernetes Job of its own (dagster-k8s's ``k8s_job_executor``), with the image,
  secrets, ConfigMaps and volumes of the run pod when the instance's run launcher is ``K8sRunLauncher``
  (docker/kubernetes/, docs/deployment.md).

The two steps of a build share ``<store>/.staging/run-<run_id>``: whatever runs them must see the same package
store (a shared volume, an NFS mount, a PVC with ReadWriteMany).
"""

from collections.abc import Mapping

import dagster as dg

from hfit_dagster.errors import HfitError
from hfit_dagster.settings import HfitSettings, load_settings

EXECUTOR_ENV = "HFIT_DAGSTER_EXECUTOR"
BROKER_ENV = "HFIT_CELERY_BROKER_URL"
BACKEND_ENV = "HFIT_CELERY_BACKEND_URL"
QUEUE_ENV = "HFIT_CELERY_QUEUE"
DEFAULT_QUEUE = "dagster"
KINDS = ("multiprocess", "in_process", "celery", "k8s")
# a step may run this long before Redis hands its (unacknowledged) task to another worker
VISIBILITY_TIMEOUT_SECONDS = 12 * 3600


def celery_config_source(queue: str = DEFAULT_QUEUE) -> dict[str, object]:
    """Celery settings for the executor and, identically, for the workers (``config_source`` of their -y file).

    Late acknowledgement with a prefetch of one: a busy worker takes no further step, so steps spread over idle
    workers. A step whose pool process dies (out of memory) fails its run; a step whose whole worker vanishes
    is delivered again by the broker (RabbitMQ at once, Redis after the visibility timeout). Not
    ``task_reject_on_worker_lost``: a step that kills its process would be redelivered for ever.
    """
    return {
        "task_default_queue": queue,
        "task_acks_late": True,
        "worker_prefetch_multiplier": 1,
        "broker_transport_options": {"max_retries": 3, "interval_start": 0, "interval_step": 0.2,
                                     "interval_max": 0.5, "visibility_timeout": VISIBILITY_TIMEOUT_SECONDS},
    }


def executor_environment(settings: HfitSettings) -> dict[str, str]:
    """The executor variables as the settings read them (presence only for the broker and backend: dagster-celery
    reads their values from the environment at run time, so they never enter the stored run config)."""
    values = {EXECUTOR_ENV: settings.dagster_executor, QUEUE_ENV: settings.celery_queue,
              BROKER_ENV: "set" if settings.celery_broker_url else None,
              BACKEND_ENV: "set" if settings.celery_backend_url else None}
    return {name: value for name, value in values.items() if value}


def celery_executor_from_env(environ: Mapping[str, str] | None = None) -> dg.ExecutorDefinition:
    """The dagster-celery executor on ``HFIT_CELERY_QUEUE``, broker and backend from the environment at run time."""
    environ = executor_environment(load_settings()) if environ is None else environ
    try:
        from dagster_celery import celery_executor
    except ImportError:  # pragma: no cover - the `scale` extra is part of every install we ship
        raise HfitError(f"{EXECUTOR_ENV}=celery needs dagster-celery",
                        hint="pip install 'hfit[scale]'") from None
    if not environ.get(BROKER_ENV):
        raise HfitError(f"{EXECUTOR_ENV}=celery but {BROKER_ENV} is not set",
                        hint=f"set {BROKER_ENV}, e.g. redis://redis:6379/0 or pyamqp://guest@rabbitmq//")
    queue = environ.get(QUEUE_ENV) or DEFAULT_QUEUE
    config: dict[str, object] = {
        "broker": {"env": BROKER_ENV},
        "config_source": celery_config_source(queue),
    }
    if environ.get(BACKEND_ENV):
        config["backend"] = {"env": BACKEND_ENV}
    return celery_executor.configured(config, name="hfit_celery")


def k8s_executor() -> dg.ExecutorDefinition:
    """dagster-k8s's executor: a Job per step; it takes its pod settings from the K8sRunLauncher of the
    instance, so nothing of the deployment is repeated here."""
    try:
        from dagster_k8s import k8s_job_executor
    except ImportError:  # pragma: no cover - the `scale` extra is part of every install we ship
        raise HfitError(f"{EXECUTOR_ENV}=k8s needs dagster-k8s", hint="pip install 'hfit[scale]'") from None
    return k8s_job_executor


def executor_from_env(environ: Mapping[str, str] | None = None) -> dg.ExecutorDefinition | None:
    """The executor ``HFIT_DAGSTER_EXECUTOR`` asks for (``environ``, else the settings; unset: in_process);
    None for ``multiprocess``, Dagster's default."""
    environ = executor_environment(load_settings()) if environ is None else environ
    kind = (environ.get(EXECUTOR_ENV) or "in_process").strip().lower().replace("-", "_")
    if kind == "multiprocess":
        return None
    if kind == "in_process":
        return dg.in_process_executor
    if kind == "celery":
        return celery_executor_from_env(environ)
    if kind == "k8s":
        return k8s_executor()
    raise HfitError(f"{EXECUTOR_ENV}={kind!r} is not an executor hfit knows",
                    hint="use one of: " + ", ".join(KINDS))


def with_executor(defs: dg.Definitions, executor: dg.ExecutorDefinition | None) -> dg.Definitions:
    """``defs`` whose jobs (those without their own executor) run on ``executor``.

    Unchanged for None, or when ``defs`` already names an executor (so wrapping twice is harmless).
    """
    if executor is None or defs.executor is not None:
        return defs
    return dg.Definitions.merge(defs, dg.Definitions(executor=executor))
