"""Everything a request handler may need, built once per app from the settings."""

from __future__ import annotations

from dataclasses import dataclass

from hfit_api.audit import AuditLog
from hfit_api.builds import BuildService
from hfit_api.catalog import TemplateCatalog
from hfit_api.launcher import BuildLauncher, QueuedRunLauncher
from hfit_api.login_limiter import LoginLimiter
from hfit_api.packages import PackageIndex
from hfit_api.state import StateDB
from hfit_api.stored_alerts import seal_stored_alerts
from hfit_api.stored_params import rewrite_stored_params
from hfit_dagster.package.store import PackageStore
from hfit_dagster.settings import HfitSettings


@dataclass
class Service:
    settings: HfitSettings
    db: StateDB
    audit: AuditLog
    catalog: TemplateCatalog
    packages: PackageIndex
    builds: BuildService
    launcher: BuildLauncher
    logins: LoginLimiter

    @classmethod
    def from_settings(cls, settings: HfitSettings, launcher: BuildLauncher | None = None) -> Service:
        settings.home.mkdir(parents=True, exist_ok=True)
        db = StateDB(settings.state_database_url)
        audit = AuditLog(db)
        packages = PackageIndex(PackageStore(settings.package_store))
        catalog = TemplateCatalog(settings, db)
        rewrite_stored_params(settings, db, lambda: {name: entry.spec for name, entry in catalog.entries().items()})
        seal_stored_alerts(settings, db)
        launcher = launcher or QueuedRunLauncher(settings)
        return cls(
            settings=settings, db=db, audit=audit, catalog=catalog, packages=packages,
            builds=BuildService(settings, db, packages, launcher, audit), launcher=launcher,
            logins=LoginLimiter(settings.auth_failures_per_minute),
        )

    def close(self) -> None:
        self.launcher.close()
        self.db.dispose()
