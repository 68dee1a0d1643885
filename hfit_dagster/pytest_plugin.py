"""pytest plugin: ``hfit_db("template", key=value...)`` gives a test a throwaway database loaded with a package.

Installed with hfit (entry point ``pytest11``), so any project that has hfit installed can write::

    def test_checkout(hfit_db):
        url = hfit_db("integration-test-suite", row_limit=50)   # a SQLAlchemy URL
        engine = sqlalchemy.create_engine(url)
        ...

The package is built locally from templates/ (providers and masking key from hfit's configuration), or, with
``--hfit-server`` / ``HFIT_TEST_FROM_SERVER=1``, downloaded from the hfit service the user is logged in to.
It is loaded into a new database on the server given by ``--hfit-database-url`` (or ``HFIT_TEST_DATABASE_URL``;
MySQL/MariaDB, PostgreSQL or SQLite; default: a SQLite file in the test's temporary directory), written in
that server's dialect. The database is dropped when the test ends.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import URL
from sqlalchemy.engine.url import make_url

ENV_DATABASE_URL = "HFIT_TEST_DATABASE_URL"
ENV_FROM_SERVER = "HFIT_TEST_FROM_SERVER"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hfit", "hfit fixture packages")
    group.addoption("--hfit-database-url", default=None,
                    help="server to create throwaway databases on (mysql://, postgresql://, sqlite://)")
    group.addoption("--hfit-server", action="store_true", default=False,
                    help="download packages from the hfit service instead of building locally")


def _quote(name: str, dialect: str) -> str:
    """An identifier quoted by the target dialect's own preparer (the names here are generated, but still)."""
    from sqlalchemy.dialects import mysql, postgresql

    preparer = (mysql.dialect() if dialect == "mysql" else postgresql.dialect()).identifier_preparer
    return preparer.quote_identifier(name)


def _dialect(url: URL) -> str:
    backend = url.get_backend_name()
    if backend in ("mysql", "mariadb"):
        return "mysql"
    if backend in ("postgresql", "sqlite"):
        return backend
    raise pytest.UsageError(f"hfit_db: unsupported database server {backend!r} (mysql, postgresql or sqlite)")


def _package_sql(template: str, params: dict[str, Any], dialect: str, workdir: Path, from_server: bool) -> Path:
    raw = {k: ",".join(map(str, v)) if isinstance(v, list | tuple) else str(v) for k, v in params.items()}
    if from_server:
        target = workdir / f"{template}.sql"
        command = ["hfit", "pkg-download", template, *(f"{k}={v}" for k, v in raw.items()), "-o", str(target)]
        if dialect != "mysql":
            raise pytest.UsageError("hfit_db: packages from the server are MySQL scripts; use a MySQL/MariaDB "
                                    "database URL, or build locally for PostgreSQL/SQLite")
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"hfit pkg-download {template} failed: {done.stderr.strip()[-500:]}")
        return target
    from hfit_dagster.pipeline.local_build import build_package
    from hfit_dagster.settings import load_settings
    from hfit_dagster.template.loader import resolve_template

    settings = load_settings()
    spec = resolve_template(template, settings.templates_dir).spec
    return build_package(spec, raw, settings, dialect=dialect).path / "package.sql"


class _Databases:
    """Creates, loads and drops the throwaway databases of one test."""

    def __init__(self, server: URL, workdir: Path) -> None:
        self.server, self.workdir, self.dialect = server, workdir, _dialect(server)
        self.created: list[str] = []

    def create_and_load(self, script: Path) -> str:
        name = f"hfit_fixture_{uuid.uuid4().hex[:12]}"
        if self.dialect == "sqlite":
            path = self.workdir / f"{name}.db"
            with sqlite3.connect(path) as conn:
                conn.executescript(script.read_text(encoding="utf-8"))
            self.created.append(str(path))
            return f"sqlite:///{path}"
        if self.dialect == "postgresql":
            import psycopg

            admin = self.server.set(drivername="postgresql", database=self.server.database or "postgres")
            with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
                conn.execute("CREATE DATABASE " + _quote(name, "postgresql"))
            self.created.append(name)
            target = self.server.set(drivername="postgresql", database=name)
            with psycopg.connect(target.render_as_string(hide_password=False), autocommit=True) as conn:
                conn.execute(script.read_text(encoding="utf-8"))
            return self.server.set(drivername="postgresql+psycopg", database=name).render_as_string(
                hide_password=False)
        import pymysql

        with pymysql.connect(**self._mysql_args()) as conn, conn.cursor() as cur:
            cur.execute("CREATE DATABASE " + _quote(name, "mysql") + " CHARACTER SET utf8mb4")
        self.created.append(name)
        client = "mariadb" if subprocess.run(["which", "mariadb"], capture_output=True).returncode == 0 else "mysql"
        args = self._mysql_args()
        env = {**os.environ, "MYSQL_PWD": args["password"]}
        with script.open("rb") as handle:
            done = subprocess.run([client, "-h", args["host"], "-P", str(args["port"]), "-u", args["user"], name],
                                  stdin=handle, capture_output=True, env=env)
        if done.returncode != 0:
            raise RuntimeError(f"loading the package into {name} failed: {done.stderr.decode()[-500:]}")
        return self.server.set(drivername="mysql+pymysql", database=name).render_as_string(hide_password=False)

    def _mysql_args(self) -> dict[str, Any]:
        return {"host": self.server.host or "127.0.0.1", "port": self.server.port or 3306,
                "user": self.server.username or "root", "password": self.server.password or ""}

    def drop_all(self) -> None:
        for name in self.created:
            if self.dialect == "sqlite":
                Path(name).unlink(missing_ok=True)
            elif self.dialect == "postgresql":
                import psycopg

                admin = self.server.set(drivername="postgresql", database=self.server.database or "postgres")
                with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
                    conn.execute("DROP DATABASE IF EXISTS " + _quote(name, "postgresql") + " WITH (FORCE)")
            else:
                import pymysql

                with pymysql.connect(**self._mysql_args()) as conn, conn.cursor() as cur:
                    cur.execute("DROP DATABASE IF EXISTS " + _quote(name, "mysql"))


@pytest.fixture
def hfit_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., str]]:
    """A factory: ``hfit_db(template, **params)`` → URL of a new database loaded with that package."""
    configured = request.config.getoption("--hfit-database-url") or os.environ.get(ENV_DATABASE_URL)
    server = make_url(configured) if configured else make_url(f"sqlite:///{tmp_path}/hfit.db")
    from_server = request.config.getoption("--hfit-server") or os.environ.get(ENV_FROM_SERVER) == "1"
    databases = _Databases(server, tmp_path)

    def load(template: str, **params: Any) -> str:
        script = _package_sql(template, params, databases.dialect, tmp_path, from_server)
        return databases.create_and_load(script)

    yield load
    databases.drop_all()
