"""How a build request becomes a Dagster run.

``BuildLauncher`` is the seam: the service hands it a ``BuildJob`` and a ``BuildEvents`` to report to, and
does not care where the run executes. The default, ``DagsterThreadLauncher``, materializes the template's
assets (``build_template_defs``: the table multi-asset and the package asset with its blocking checks) with
``dagster.materialize`` in a worker thread of the API process, against a persistent Dagster instance:
``$DAGSTER_HOME`` when set (so ``dagster dev`` with the same DAGSTER_HOME lists the runs), else
``<home>/dagster``. Runs are tagged ``hfit/requester``, ``hfit/template`` and ``hfit/build``.

Another launcher (submitting through Dagster's GraphQL API to a deployment's run launcher, for example)
only has to implement ``launch`` and ``close`` and report through ``BuildEvents``.
"""

from __future__ import annotations

import logging
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from hfit_dagster import errors
from hfit_dagster.errors import BuildError, HfitError
from hfit_dagster.settings import HfitSettings
from hfit_dagster.template.loader import TemplateFile

if TYPE_CHECKING:
    import dagster as dg

log = logging.getLogger("hfit_api.launcher")
_CLASS_PREFIX = re.compile(r"^[A-Za-z_][\w.]*: ")


@dataclass(frozen=True)
class BuildJob:
    build_id: str
    template: TemplateFile
    params: dict[str, str]
    requester: str
    dry_run: bool = False


class BuildEvents(Protocol):
    def started(self, build_id: str) -> None: ...

    def succeeded(self, build_id: str, version: str, run_id: str | None) -> None: ...

    def failed(self, build_id: str, error: HfitError, run_id: str | None) -> None: ...


class BuildLauncher(Protocol):
    def launch(self, job: BuildJob, events: BuildEvents) -> None:
        """Start the build and return at once; report progress through ``events``."""

    def close(self) -> None:
        """Stop accepting builds (running ones may finish or be abandoned)."""


def run_config(job: BuildJob) -> dict[str, Any]:
    from hfit_dagster.orchestration.resources import run_config_for

    return dict(run_config_for(job.template.spec.name, job.params))


# Dagster configures logging (logging.config.dictConfig) at the start of every in-process run when the
# instance's dagster.yaml has settings; two threads doing that at once deadlock on the logging locks
# (reproduced with two concurrent materialize calls). In-process runs therefore run one at a time per API
# process; for parallel builds, run several API replicas or submit runs to a Dagster deployment.
_IN_PROCESS_RUN = threading.Lock()


class DagsterThreadLauncher:
    """Runs each build as a Dagster run (``materialize``) in a thread pool of this process."""

    def __init__(self, settings: HfitSettings) -> None:
        self.settings = settings
        self._pool = ThreadPoolExecutor(max_workers=settings.build_workers, thread_name_prefix="hfit-build")
        self._instance: dg.DagsterInstance | None = None
        self._lock = threading.Lock()

    def launch(self, job: BuildJob, events: BuildEvents) -> None:
        self._pool.submit(self._run, job, events)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def instance(self) -> dg.DagsterInstance:
        import dagster as dg

        with self._lock:
            if self._instance is None:
                directory = self.settings.dagster_instance_dir.resolve()
                directory.mkdir(parents=True, exist_ok=True, mode=0o700)
                directory.chmod(0o700)  # run logs and event storage: only the service's account reads them
                self._instance = dg.DagsterInstance.from_config(str(directory))
            return self._instance

    def _run(self, job: BuildJob, events: BuildEvents) -> None:
        run_id: str | None = None
        try:
            events.started(job.build_id)
            import dagster as dg

            from hfit_dagster.orchestration.resources import HfitResource
            from hfit_dagster.orchestration.template_assets import build_template_defs

            defs = build_template_defs(job.template)
            tags = {"hfit/requester": job.requester, "hfit/template": job.template.spec.name,
                    "hfit/build": job.build_id}
            if job.dry_run:
                tags["hfit/dry_run"] = "true"
            with _IN_PROCESS_RUN:  # see _IN_PROCESS_RUN: two runs starting together can deadlock
                result = dg.materialize(
                    list(defs.assets or []),
                    instance=self.instance(),
                    resources={"hfit": HfitResource(home=str(self.settings.home.resolve()))},
                    run_config=run_config(job),
                    tags=tags,
                    raise_on_error=False,
                )
            run_id = result.run_id
            if not result.success:
                events.failed(job.build_id, failure_of(result), run_id)
                return
            version = published_version(result)
            if version is None:
                events.failed(job.build_id, BuildError("the run succeeded but published no package"), run_id)
                return
            events.succeeded(job.build_id, version, run_id)
        except HfitError as exc:
            events.failed(job.build_id, exc, run_id)
        except Exception as exc:  # noqa: BLE001 - a build thread must always report an outcome
            log.exception("build %s crashed", job.build_id)
            events.failed(job.build_id, BuildError(f"build failed ({exc.__class__.__name__}); see the server log"),
                          run_id)


def published_version(result: dg.ExecuteInProcessResult) -> str | None:
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization  # type: ignore[union-attr]
        if materialization.asset_key.path[-1] == "package":
            value = materialization.metadata.get("version")
            return str(getattr(value, "value", value)) if value is not None else None
    return None


def failure_of(result: dg.ExecuteInProcessResult) -> HfitError:
    """The HfitError that failed the run, rebuilt from Dagster's error info (message and hint only)."""
    known = _hfit_error_classes()
    for event in result.all_events:
        if not event.is_step_failure:
            continue
        error = event.step_failure_data.error  # type: ignore[union-attr]
        while error is not None:
            cls = known.get(error.cls_name or "")
            if cls is not None:
                message, hint = _message_and_hint(error.message)
                return cls(message, hint=hint)
            if error.cls_name == "Failure":
                message, hint = _message_and_hint(error.message)
                return BuildError(message, hint=hint)
            error = error.cause
        return BuildError(f"step {event.step_key} failed; see Dagster run {result.run_id}")
    return BuildError(f"Dagster run {result.run_id} failed")


def _message_and_hint(text: str) -> tuple[str, str | None]:
    body = _CLASS_PREFIX.sub("", text, count=1).split("\n\nStack Trace:", 1)[0].strip()
    message, _, hint = body.partition("\n  hint: ")
    return message.strip(), (hint.strip() or None)


def _hfit_error_classes() -> dict[str, type[HfitError]]:
    found: dict[str, type[HfitError]] = {}
    pending: list[type[HfitError]] = [errors.HfitError]
    while pending:
        cls = pending.pop()
        found[cls.__name__] = cls
        pending.extend(cls.__subclasses__())
    return found
