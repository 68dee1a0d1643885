"""The one Dagster instance of a state directory, shared by ``make dagster``, ``hfit serve`` and ``hfit build``.

Its directory is ``settings.dagster_instance_dir``: ``$DAGSTER_HOME`` when set, else ``<home>/dagster``, created
private (0700: run logs and event storage). ``make dagster`` exports it as DAGSTER_HOME (``python -m
hfit_dagster.orchestration.instance`` prints it); ``hfit serve`` runs its builds there; ``hfit build``, which
builds in its own process without Dagster, reports what it published there as runless materializations of the
template's assets (keys as ``template_assets.py`` names them), so the UI lists local builds beside the runs.

The report is written by a detached child process (``python -m hfit_dagster.orchestration.instance record``):
importing Dagster and opening an instance take seconds, which a local build's command should not wait for. It
is sent only when the instance directory exists (``make dagster`` or ``hfit serve`` made it), so a build on a
home that never used Dagster creates nothing and costs nothing. The child's errors go to ``local-builds.log`` in
the instance directory; what it receives is the manifest's view (versions, row counts, parameter digests),
never a source value.
"""

from __future__ import annotations

import getpass
import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hfit_dagster.settings import HfitSettings, load_settings

if TYPE_CHECKING:
    from hfit_dagster.package.manifest import PackageManifest
    from hfit_dagster.template.spec import TemplateSpec

PACKAGE_KEY = "package"
SOURCE = "hfit build"


def instance_dir(settings: HfitSettings) -> Path:
    """The instance directory, created (or narrowed) to mode 0700; an OSError when it cannot be."""
    directory = settings.dagster_instance_dir.resolve()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    directory.chmod(0o700)
    return directory


STORAGE_LOCK = ".storage.lock"


def prepared_instance_dir(settings: HfitSettings) -> Path:
    """:func:`instance_dir` with its storage created (``make dagster``: the UI then opens a ready instance)."""
    directory = instance_dir(settings)
    create_storage(directory)
    return directory


def sqlite_storage_exists(directory: Path) -> bool:
    """SQLite storage (Dagster's default) already created in ``directory``."""
    return all((directory / path).is_file() for path in ("history/runs.db", "schedules/schedules.db"))


def create_storage(directory: Path) -> None:
    """Create the instance's storage once, holding a lock file of the directory: SQLite storage that several
    processes create at once gets two schema heads and no longer opens (a ``hfit build`` recorder beside
    another one, ``make dagster`` or ``hfit serve``). Storage that exists is left to Dagster; other storage
    (PostgreSQL) is opened, which brings it up to date."""
    import fcntl

    import dagster as dg

    if sqlite_storage_exists(directory):
        return
    with (directory / STORAGE_LOCK).open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if sqlite_storage_exists(directory):
            return
        with dg.DagsterInstance.from_config(str(directory)) as instance:
            instance.get_runs(limit=1)
            instance.all_instigator_state()


def local_requester() -> str:
    try:
        return f"{getpass.getuser()} (hfit build)"
    except (KeyError, OSError):  # no passwd entry for this uid (containers)
        return SOURCE


LOG_NAME = "local-builds.log"
# children started by this process: held so that none is reaped (or warned about) while this process runs
_RECORDERS: list[subprocess.Popen[bytes]] = []


def local_build_events(spec: TemplateSpec, path: Path, manifest: PackageManifest,
                       requester: str | None = None) -> list[dict[str, Any]]:
    """What ``hfit build`` reports, as plain JSON: per exported table and for the package, an asset key and its
    metadata (version, requester, parameters as the manifest has them: keyed digests, rows; the package also
    path, tables and bytes). Each metadata value is ``[kind, value]`` with kind plain, json, path or md."""
    common: dict[str, Any] = {"version": ["plain", manifest.version],
                              "requester": ["plain", requester or local_requester()],
                              "source": ["plain", SOURCE], "params": ["json", manifest.params]}
    rows = {t.name: t.rows for t in manifest.tables}
    events = [{"asset_key": [spec.name, export],
               "metadata": {**common, "rows": ["plain", rows.get(spec.source_table(export), 0)]}}
              for export in spec.export_order()]
    events.append({"asset_key": [spec.name, PACKAGE_KEY],
                   "metadata": {**common, **package_metadata_values(path, manifest.model_dump())}})
    return events


def report_local_build(spec: TemplateSpec, path: Path, manifest: PackageManifest, settings: HfitSettings,
                       requester: str | None = None) -> Path | None:
    """Start the detached child that records a package ``hfit build`` published in the instance; return the
    instance directory, or None when it does not exist (nothing is recorded). Raises OSError when the child
    cannot be started."""
    directory = settings.dagster_instance_dir
    if not directory.is_dir():
        return None
    directory = directory.resolve()
    payload = json.dumps(local_build_events(spec, path, manifest, requester)).encode()
    with (directory / LOG_NAME).open("ab") as log:
        child = subprocess.Popen([sys.executable, "-m", __name__, "record", str(directory)],
                                 stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=log,
                                 start_new_session=True, close_fds=True)
    _RECORDERS.append(child)
    assert child.stdin is not None
    with child.stdin:
        child.stdin.write(payload)
    return directory


def record_events(directory: Path, events: list[dict[str, Any]]) -> None:
    """Write ``local_build_events`` into the instance at ``directory`` as runless materializations."""
    import dagster as dg

    makers = {"plain": lambda v: v, "json": dg.MetadataValue.json, "path": dg.MetadataValue.path,
              "md": dg.MetadataValue.md}
    materializations = [
        dg.AssetMaterialization(asset_key=event["asset_key"],
                                metadata={name: makers[kind](value) for name, (kind, value)
                                          in event["metadata"].items()})
        for event in events]
    create_storage(directory)
    with dg.DagsterInstance.from_config(str(directory)) as instance:
        for materialization in materializations:
            instance.report_runless_asset_event(materialization)


def package_metadata_values(path: Path, manifest: dict[str, Any]) -> dict[str, list[Any]]:
    """The package asset's metadata as ``[kind, value]`` pairs (see ``local_build_events``)."""
    return {
        "path": ["path", str(path)],
        "version": ["plain", manifest["version"]],
        "rows": ["plain", sum(t["rows"] for t in manifest["tables"])],
        "tables": ["md", "| table | role | rows |\n|---|---|---|\n"
                   + "\n".join(f"| {t['name']} | {t['role']} | {t['rows']} |" for t in manifest["tables"])],
        "bytes": ["plain", sum(f["bytes"] for f in manifest["files"].values())],
    }


def package_metadata(path: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """What the package asset's materialization shows: path, version, rows, tables, bytes."""
    import dagster as dg

    makers = {"plain": lambda v: v, "path": dg.MetadataValue.path, "md": dg.MetadataValue.md}
    return {name: makers[kind](value) for name, (kind, value) in package_metadata_values(path, manifest).items()}


def main(argv: list[str] | None = None) -> None:
    """No arguments: print the instance directory of the configured state directory, creating it and its storage
    (``make dagster``). ``record DIRECTORY``: write the events read from stdin into that instance (``hfit build``'s
    child)."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["record"] and len(args) == 2:
        record_events(Path(args[1]), json.loads(sys.stdin.buffer.read()))
        return
    print(prepared_instance_dir(load_settings()))


if __name__ == "__main__":
    main()
