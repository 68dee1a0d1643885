"""How a build request becomes a Dagster run, and how the service learns what became of it.

``BuildLauncher`` is the seam: the service hands it a ``BuildJob`` and a ``BuildEvents`` to report to.
``QueuedRunLauncher`` creates the template job's run in the Dagster instance, from the code location of the
service's workspace (``dagster_instance.py``), tagged ``hfit/requester``, ``hfit/template`` and ``hfit/build``
with the parameters sealed in its run config (``sealed_params.py``: Dagster stores and shows run config as it is,
and a value may name someone), and submits it as ``dagster job launch`` does: the instance's run
coordinator queues it, the daemon starts it when the queue has room (``max_concurrent_runs``), and the
instance's run launcher and the job's executor decide where it runs (a process of the code location, steps
in-process, in subprocesses or on Celery workers). The API process never executes a build.

A watcher thread follows the runs of the builds this process submitted (or, after a restart, resumed with
``follow``) in the instance's run storage and reports through ``BuildEvents``: ``started`` when the run starts,
``succeeded`` with the version the package asset's materialization recorded, ``failed`` with the HfitError
rebuilt from the run's failure events (message and hint only: both are written to be safe to show).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from hfit_api.dagster_instance import prepare_instance
from hfit_dagster import errors
from hfit_dagster.errors import BuildError, HfitError, ParameterError
from hfit_dagster.orchestration.draft_builds import TEMPLATE_HASH_TAG
from hfit_dagster.orchestration.parameter_refusals import without_value
from hfit_dagster.settings import HfitSettings
from hfit_dagster.template.loader import TemplateFile

if TYPE_CHECKING:
    import dagster as dg
    from dagster._core.remote_representation.code_location import CodeLocation
    from dagster._core.remote_representation.external import RemoteJob, RemoteRepository
    from dagster._core.workspace.context import BaseWorkspaceRequestContext, WorkspaceProcessContext

log = logging.getLogger("hfit_api.launcher")
_CLASS_PREFIX = re.compile(r"^[A-Za-z_][\w.]*: ")
PACKAGE_ASSET = "package"
WARM_UP_DELAY_SECONDS = 5.0
STILL_FAILING_LOG_SECONDS = 60.0

BuildState = Literal["queued", "running", "succeeded", "failed"]


@dataclass(frozen=True)
class BuildJob:
    build_id: str
    template: TemplateFile
    params: dict[str, str]
    requester: str
    dry_run: bool = False
    template_hash: str = ""  # the content the build record names; the run fails if its step finds other content


class BuildEvents(Protocol):
    def submitted(self, build_id: str, run_id: str) -> None: ...

    def started(self, build_id: str) -> None: ...

    def succeeded(self, build_id: str, version: str, run_id: str | None) -> None: ...

    def failed(self, build_id: str, error: HfitError, run_id: str | None) -> None: ...


class BuildLauncher(Protocol):
    def launch(self, job: BuildJob, events: BuildEvents) -> None:
        """Submit the build and return at once; report its progress through ``events``."""

    def follow(self, build_id: str, run_id: str, events: BuildEvents) -> None:
        """Report the outcome of a run submitted before this process started (a service restart)."""

    def close(self) -> None:
        """Stop submitting and following (submitted runs go on in the instance)."""


def run_config(job: BuildJob, masking_key: bytes) -> dict[str, Any]:
    """The run config of the build's run: its parameters sealed under a key derived from ``masking_key``."""
    from hfit_dagster.orchestration.resources import sealed_run_config_for

    return dict(sealed_run_config_for(job.template.spec, job.params, masking_key))


def refused_parameter(exc: BaseException) -> ParameterError | None:
    """The parameter refusal behind ``exc``, without the value it quotes: a ParameterError it was raised from (its
    cause or context), or one raised in a code server (Dagster's error infos name its class); None if none."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ParameterError):
            return without_value(current)
        for info in getattr(current, "user_code_process_error_infos", None) or []:
            refusal = _refused_in_code_server(info)
            if refusal is not None:
                return refusal
        current = current.__cause__ or current.__context__
    return None


def _refused_in_code_server(info: Any) -> ParameterError | None:
    """A ParameterError in a code server's serialized error (``SerializableErrorInfo``), or its cause or context."""
    if info is None:
        return None
    if info.cls_name == ParameterError.__name__:
        message, hint = _message_and_hint(info.message)
        return without_value(ParameterError(message, hint=hint))
    return _refused_in_code_server(info.cause) or _refused_in_code_server(info.context)


def run_tags(job: BuildJob) -> dict[str, str]:
    tags = {"hfit/requester": job.requester, "hfit/template": job.template.spec.name, "hfit/build": job.build_id}
    if job.dry_run:
        tags["hfit/dry_run"] = "true"
    if job.template_hash:
        tags[TEMPLATE_HASH_TAG] = job.template_hash
    return tags


def build_state(status: dg.DagsterRunStatus) -> BuildState:
    """A run's status as a build's: waiting in the queue, on its way, or finished one way or the other."""
    import dagster as dg

    if status in (dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED):
        return "queued"
    if status == dg.DagsterRunStatus.SUCCESS:
        return "succeeded"
    if status in (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED):
        return "failed"
    return "running"  # STARTING, STARTED, CANCELING, and the statuses of other run launchers (MANAGED, SUSPENDED)


class PollFailureLog:
    """What the watcher logs while the instance cannot be read: the first failure with its traceback, then one line
    per ``interval`` seconds (the exception's class only) while it lasts, and one line when a poll succeeds again,
    instead of a traceback every poll."""

    def __init__(self, logger: logging.Logger, interval: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger, self.interval, self.clock = logger, interval, clock
        self._since: float | None = None  # when the current outage's first failure was seen
        self._logged = 0.0
        self._failures = 0

    @property
    def failures(self) -> int:
        """Failed polls of the current outage (0 while the instance can be read)."""
        return self._failures

    def failed(self, exc: BaseException) -> None:
        now = self.clock()
        self._failures += 1
        if self._since is None:
            self._since = self._logged = now
            self.logger.error("could not read the state of the service's Dagster runs; builds are not followed "
                              "until it can (one line a minute meanwhile)", exc_info=exc)
        elif now - self._logged >= self.interval:
            self._logged = now
            self.logger.error("still cannot read the state of the service's Dagster runs (%s), for %d s and %d "
                              "polls", exc.__class__.__name__, now - self._since, self._failures)

    def succeeded(self) -> None:
        if self._since is not None:
            self.logger.warning("the state of the service's Dagster runs can be read again, after %d s and %d failed "
                                "polls", self.clock() - self._since, self._failures)
            self._since, self._failures = None, 0


@dataclass
class _Followed:
    build_id: str
    events: BuildEvents
    reported: BuildState
    resumed: bool  # followed after a restart: its run may never have been created


class QueuedRunLauncher:
    """Submits each build as a run to the Dagster instance's run queue and follows the run to its end."""

    def __init__(self, settings: HfitSettings, poll_seconds: float = 0.5,
                 still_failing_log_seconds: float = STILL_FAILING_LOG_SECONDS) -> None:
        self.settings = settings
        self.poll_seconds = poll_seconds
        self.watch_failures = PollFailureLog(log, still_failing_log_seconds)
        self._instance: dg.DagsterInstance | None = None
        self._workspace: WorkspaceProcessContext | None = None
        self._loaded_at = 0.0  # when the workspace's code locations were last (re)loaded
        self._submitter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hfit-submit")
        self._followed: dict[str, _Followed] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="hfit-run-watcher", daemon=True)
        self._watcher.start()
        self._submitter.submit(self._warm_up)  # the service answers meanwhile; builds wait for it

    @property
    def instance(self) -> dg.DagsterInstance:
        """The Dagster instance, opened (and prepared: ``dagster_instance.py``) on first use."""
        import dagster as dg

        with self._lock:
            if self._instance is None:
                self._instance = dg.DagsterInstance.from_config(str(prepare_instance(self.settings)))
            return self._instance

    # -- BuildLauncher -----------------------------------------------------------------------------------
    def launch(self, job: BuildJob, events: BuildEvents) -> None:
        self._submitter.submit(self._submit, job, events)

    def follow(self, build_id: str, run_id: str, events: BuildEvents) -> None:
        with self._lock:
            self._followed[run_id] = _Followed(build_id, events, "queued", resumed=True)

    def close(self) -> None:
        self._stop.set()
        self._submitter.shutdown(wait=False, cancel_futures=True)
        self._watcher.join(timeout=10)
        if self._workspace is not None:
            self._workspace.__exit__(None, None, None)  # stops the code server it started
        if self._instance is not None:
            self._instance.dispose()

    # -- submitting --------------------------------------------------------------------------------------
    def _warm_up(self) -> None:
        """Open the instance and load the workspace (start its code server) before the first build needs them,
        once the service has had a moment to start answering (importing Dagster holds the GIL for seconds)."""
        if self._stop.wait(WARM_UP_DELAY_SECONDS):
            return
        try:
            self._workspace_context()
        except Exception:  # noqa: BLE001 - the first build reports the error to its requester
            log.exception("could not load the Dagster workspace %s", self.settings.dagster_workspace_file)

    def _submit(self, job: BuildJob, events: BuildEvents) -> None:
        from dagster._core.utils import make_new_run_id

        run_id = make_new_run_id()
        created = False  # a run that exists in the instance keeps its id on the failed build
        try:
            events.submitted(job.build_id, run_id)
            request, location, repo, remote_job = self._remote_job(job)
            self._create_run(run_id, job, request, location, repo, remote_job)
            created = True
            self.instance.submit_run(run_id, request)
        except HfitError as exc:
            events.failed(job.build_id, exc, run_id if created else None)
            return
        except Exception as exc:  # noqa: BLE001 - a build must always get an outcome
            refusal = refused_parameter(exc)
            if refusal is not None:
                # the refusal quotes the value (an e-mail, a customer id): logged and reported without it, and
                # without the traceback, which would print it again
                log.warning("build %s could not be submitted: %s", job.build_id, refusal)
                events.failed(job.build_id, refusal, run_id if created else None)
                return
            log.exception("build %s could not be submitted", job.build_id)
            events.failed(job.build_id, BuildError(
                f"the build could not be submitted to Dagster ({exc.__class__.__name__}); see the server log"),
                run_id if created else None)
            return
        with self._lock:
            self._followed[run_id] = _Followed(job.build_id, events, "queued", resumed=False)

    def _workspace_context(self) -> WorkspaceProcessContext:
        import dagster as dg
        from dagster._core.workspace.context import WorkspaceProcessContext
        from dagster._core.workspace.load_target import WorkspaceFileTarget

        if self._workspace is None:
            target = WorkspaceFileTarget(paths=[str(self.settings.dagster_workspace_file.resolve())])
            self._loaded_at = time.time()
            self._workspace = WorkspaceProcessContext(self.instance, target, version=dg.__version__)
        return self._workspace

    def _remote_job(self, job: BuildJob) -> tuple[BaseWorkspaceRequestContext, CodeLocation, RemoteRepository,
                                                  RemoteJob]:
        """The template's job as the code location has it now: the location is reloaded when the template file
        changed since it was loaded (a template made or approved through the API) or the job is missing."""
        from hfit_dagster.orchestration.resources import job_name

        workspace = self._workspace_context()
        name = job_name(job.template.spec.name)
        if _modified_at(job) >= self._loaded_at:
            self._reload(workspace)
        found = _find_job(workspace.create_request_context(), name, job.template.spec.name)
        if found is None:
            self._reload(workspace)
            found = _find_job(workspace.create_request_context(), name, job.template.spec.name)
        if found is None:
            raise BuildError(f"the Dagster code location has no job {name}",
                             hint=f"check that {self.settings.dagster_workspace_file} loads hfit_dagster.definitions "
                             "and that the template is approved or a draft of the service")
        return found

    def _reload(self, workspace: WorkspaceProcessContext) -> None:
        self._loaded_at = time.time()
        workspace.reload_workspace()

    def _create_run(self, run_id: str, job: BuildJob, request: BaseWorkspaceRequestContext, location: CodeLocation,
                    repo: RemoteRepository, remote_job: RemoteJob) -> None:
        """The run as ``dagster job launch`` creates it: job and execution plan snapshots from the location."""
        config = run_config(job, self.settings.masking_key_bytes())
        plan = location.get_execution_plan(remote_job, config, step_keys_to_execute=None, known_state=None,
                                           instance=self.instance).execution_plan_snapshot
        self.instance.create_run(
            job_name=remote_job.name, run_id=run_id, run_config=config,
            resolved_op_selection=remote_job.resolved_op_selection, step_keys_to_execute=plan.step_keys_to_execute,
            op_selection=None, status=None, root_run_id=None, parent_run_id=None,
            tags={**remote_job.tags, **run_tags(job)}, job_snapshot=remote_job.job_snapshot,
            execution_plan_snapshot=plan, parent_job_snapshot=remote_job.parent_job_snapshot,
            remote_job_origin=remote_job.get_remote_origin(), job_code_origin=remote_job.get_python_origin(),
            asset_selection=None, asset_check_selection=None, asset_graph=repo.asset_graph,
        )

    # -- following ---------------------------------------------------------------------------------------
    def _watch(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.poll()
            except Exception as exc:  # noqa: BLE001 - keep following; the instance may be back on the next poll
                self.watch_failures.failed(exc)
            else:
                self.watch_failures.succeeded()

    def poll(self) -> None:
        """Report every followed run whose state changed since the last look."""
        import dagster as dg

        with self._lock:
            followed = dict(self._followed)
        if not followed:
            return
        records = self.instance.get_run_records(dg.RunsFilter(run_ids=list(followed)))
        runs = {record.dagster_run.run_id: record.dagster_run for record in records}
        for run_id, build in followed.items():
            run = runs.get(run_id)
            if run is None:
                if build.resumed:  # the service stopped between recording the run id and creating the run
                    build.events.failed(build.build_id, BuildError("interrupted: the service stopped before the "
                                                                   "build's run was created"), run_id)
                    self._unfollow(run_id)
                continue
            if build.resumed and run.status == dg.DagsterRunStatus.NOT_STARTED:
                # created, never submitted (the service stopped in between): no daemon will ever start it
                message = "interrupted: the service stopped before the build's run was submitted"
                self.instance.report_run_failed(run, message)
                build.events.failed(build.build_id, BuildError(message, hint="request the build again"), run_id)
                self._unfollow(run_id)
                continue
            state = build_state(run.status)
            if state == build.reported:
                continue
            if build.reported == "queued" and state != "queued":
                build.events.started(build.build_id)
            if state == "succeeded":
                version = published_version(self.instance, run_id)
                if version is None:
                    build.events.failed(build.build_id, BuildError("the run succeeded but published no package"),
                                        run_id)
                else:
                    build.events.succeeded(build.build_id, version, run_id)
            elif state == "failed":
                build.events.failed(build.build_id, failure_of(self.instance, run_id, run.status), run_id)
            if state in ("succeeded", "failed"):
                self._unfollow(run_id)
            else:
                build.reported = state

    def _unfollow(self, run_id: str) -> None:
        with self._lock:
            self._followed.pop(run_id, None)


def _modified_at(job: BuildJob) -> float:
    try:
        return job.template.path.stat().st_mtime
    except OSError:
        return time.time()  # no file to compare with: make sure the location is current


def _find_job(request: BaseWorkspaceRequestContext, name: str, template: str,
              ) -> tuple[BaseWorkspaceRequestContext, CodeLocation, RemoteRepository, RemoteJob] | None:
    """The job ``name`` of template ``template`` (its ``hfit/template`` tag); BuildError when the job is another
    template's (the same slug: the code location leaves the later template out, ``service_templates.py``)."""
    from dagster._core.definitions.selector import JobSubsetSelector

    for location_name, entry in request.get_code_location_entries().items():
        location = entry.code_location
        if location is None:
            if entry.load_error is not None:
                log.warning("Dagster code location %s did not load: %s", location_name,
                            entry.load_error.message.splitlines()[0][:300])
            continue
        for repo in location.get_repositories().values():
            if repo.has_job(name):
                selector = JobSubsetSelector(location_name=location_name, repository_name=repo.name, job_name=name,
                                             op_selection=None)
                remote_job = location.get_job(selector)
                owner = remote_job.tags.get("hfit/template")
                if owner == template:
                    return request, location, repo, remote_job
                raise BuildError(f"Dagster job {name} builds template {owner}, not {template}: names that differ only "
                                 "in '-', '.' and '_' share a job", hint=f"rename template {template}")
    return None


def published_version(instance: dg.DagsterInstance, run_id: str) -> str | None:
    """The version the run's package asset published (its materialization's ``version`` metadata)."""
    import dagster as dg

    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION):
        materialization = entry.asset_materialization
        if materialization is not None and materialization.asset_key.path[-1] == PACKAGE_ASSET:
            value = materialization.metadata.get("version")
            return str(getattr(value, "value", value)) if value is not None else None
    return None


def failure_of(instance: dg.DagsterInstance, run_id: str, status: dg.DagsterRunStatus | None = None) -> HfitError:
    """The HfitError that failed the run, rebuilt from its failure events (message and hint only)."""
    import dagster as dg

    if status == dg.DagsterRunStatus.CANCELED:
        return BuildError(f"Dagster run {run_id} was canceled", hint="request the build again")
    known = _hfit_error_classes()
    failures = instance.all_logs(run_id, of_type={dg.DagsterEventType.STEP_FAILURE,
                                                  dg.DagsterEventType.RUN_FAILURE})
    for entry in failures:
        event = entry.dagster_event
        if event is None:
            continue
        if event.is_step_failure:
            error = event.step_failure_data.error
        else:
            error = getattr(event.event_specific_data, "error", None)
        while error is not None:
            cls = known.get(error.cls_name or "")
            if cls is not None:
                message, hint = _message_and_hint(error.message)
                return cls(message, hint=hint)
            if error.cls_name == "Failure":
                message, hint = _message_and_hint(error.message)
                return BuildError(message, hint=hint)
            error = error.cause
        if event.is_step_failure:
            return BuildError(f"step {event.step_key} failed; see Dagster run {run_id}")
    return BuildError(f"Dagster run {run_id} failed", hint="its event log in the Dagster UI says why")


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
