"""The one Dagster instance of a state directory, shared by ``make dagster``, ``hfit serve`` and ``hfit build``.

Its directory is ``settings.dagster_instance_dir``: ``$DAGSTER_HOME`` when set, else ``<home>/dagster``, created
private (0700: run logs and event storage). ``make dagster`` exports it as DAGSTER_HOME (``python -m
hfit_dagster.orchestration.instance`` prints it); ``hfit serve`` runs its builds there; ``hfit build``, which
builds in its own process without Dagster, reports what it published there as runless materializations of the
template's assets (keys as ``template_assets.py`` names them), so the UI lists local builds beside the runs.

Dagster is imported only here, after the package is published, so a build pays for it only when it succeeded.
"""

from __future__ import annotations

import getpass
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


def local_requester() -> str:
    try:
        return f"{getpass.getuser()} (hfit build)"
    except (KeyError, OSError):  # no passwd entry for this uid (containers)
        return SOURCE


def report_local_build(spec: TemplateSpec, path: Path, manifest: PackageManifest, settings: HfitSettings,
                       requester: str | None = None) -> Path:
    """Record a package ``hfit build`` published as materializations of the template's assets in the instance.

    One event per exported table (rows) and one for the package (version, path, rows, bytes), each with the
    version, the requester and the parameters as the manifest has them (keyed digests). Returns the instance
    directory; raises OSError when it cannot be created, or Dagster's error when the instance cannot be opened.
    """
    directory = instance_dir(settings)
    import dagster as dg

    common: dict[str, Any] = {"version": manifest.version, "requester": requester or local_requester(),
                              "source": SOURCE, "params": dg.MetadataValue.json(manifest.params)}
    rows = {t.name: t.rows for t in manifest.tables}
    events = [dg.AssetMaterialization(asset_key=[spec.name, export],
                                      metadata={**common, "rows": rows.get(spec.source_table(export), 0)})
              for export in spec.export_order()]
    events.append(dg.AssetMaterialization(asset_key=[spec.name, PACKAGE_KEY],
                                          metadata={**common, **package_metadata(path, manifest.model_dump())}))
    with dg.DagsterInstance.from_config(str(directory)) as instance:
        for event in events:
            instance.report_runless_asset_event(event)
    return directory


def package_metadata(path: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """What the package asset's materialization shows: path, version, rows, tables, bytes."""
    import dagster as dg

    return {
        "path": dg.MetadataValue.path(str(path)),
        "version": manifest["version"],
        "rows": sum(t["rows"] for t in manifest["tables"]),
        "tables": dg.MetadataValue.md(
            "| table | role | rows |\n|---|---|---|\n"
            + "\n".join(f"| {t['name']} | {t['role']} | {t['rows']} |" for t in manifest["tables"])
        ),
        "bytes": sum(f["bytes"] for f in manifest["files"].values()),
    }


def main() -> None:
    """Print the instance directory of the configured state directory, creating it (``make dagster``)."""
    print(instance_dir(load_settings()))


if __name__ == "__main__":
    main()
