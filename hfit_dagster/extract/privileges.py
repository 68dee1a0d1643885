"""What a provider's database user may do beyond reading: the findings behind ``hfit doctor``.

hfit reads sources in a read-only transaction through a guarded SELECT, but the safest source user is one that
could not write even if both walls failed: SELECT on the application's tables and nothing else. This module
asks the server what the connected user holds and names every privilege beyond that, with the fix.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

# MySQL/MariaDB global privileges that reach beyond reading the provider's tables.
_MYSQL_DANGEROUS = (
    "ALL PRIVILEGES", "FILE", "SUPER", "PROCESS", "SHUTDOWN", "RELOAD", "CREATE USER", "GRANT OPTION",
    "REPLICATION SLAVE ADMIN", "BINLOG ADMIN", "CONNECTION ADMIN", "READ_ONLY ADMIN", "SYSTEM_USER",
)
_MYSQL_WRITES = ("INSERT", "UPDATE", "DELETE", "DROP", "CREATE", "ALTER", "INDEX", "TRIGGER", "EXECUTE",
                 "CREATE ROUTINE", "ALTER ROUTINE", "EVENT", "LOCK TABLES", "CREATE TEMPORARY TABLES", "REFERENCES",
                 "CREATE VIEW", "DELETE HISTORY")
_GRANT = re.compile(r"^GRANT (?P<privs>.+?) ON (?P<target>\S+) TO ", re.IGNORECASE)
_PG_SERVER_ROLES = ("pg_read_server_files", "pg_write_server_files", "pg_execute_server_program",
                    "pg_signal_backend", "pg_read_all_data", "pg_write_all_data")


@dataclass(frozen=True)
class PrivilegeFinding:
    """One privilege of the source user beyond reading its own tables, and what to do about it."""

    what: str
    fix: str


def source_privilege_findings(conn: Connection) -> list[PrivilegeFinding]:
    """Privileges of the connected user beyond SELECT on its own database or schema; empty when least-privilege."""
    dialect = conn.dialect.name
    if dialect in ("mysql", "mariadb"):
        return _mysql_findings(conn)
    if dialect == "postgresql":
        return _postgres_findings(conn)
    if dialect == "sqlite":
        return _sqlite_findings(conn)
    return [PrivilegeFinding(f"a {dialect} source: its privileges are not checked",
                             "use a MySQL/MariaDB, PostgreSQL or SQLite replica")]


def _mysql_findings(conn: Connection) -> list[PrivilegeFinding]:
    findings: list[PrivilegeFinding] = []
    fix = "read through a user with SELECT on the application database only (docs/deployment.md)"
    for (grant,) in conn.exec_driver_sql("SHOW GRANTS FOR CURRENT_USER()"):
        match = _GRANT.match(str(grant))
        if not match:
            continue
        privileges = [p.strip().upper() for p in match.group("privs").split(",")]
        target = match.group("target")
        everywhere = target.startswith("*.*")
        for privilege in privileges:
            if privilege in _MYSQL_DANGEROUS or (everywhere and privilege == "SELECT"):
                what = ("can read every database on the server (SELECT ON *.*)" if privilege == "SELECT"
                        else f"holds {privilege} on {target}")
                if privilege == "FILE":
                    what += ": it can read and write files on the database host"
                findings.append(PrivilegeFinding(what, fix))
            elif privilege in _MYSQL_WRITES:
                findings.append(PrivilegeFinding(f"can change data or schema: {privilege} on {target}", fix))
        if "WITH GRANT OPTION" in str(grant).upper():
            findings.append(PrivilegeFinding(f"can grant privileges on {target} (WITH GRANT OPTION)", fix))
    return findings


def _postgres_findings(conn: Connection) -> list[PrivilegeFinding]:
    findings: list[PrivilegeFinding] = []
    fix = "read through a role with USAGE on its schema and SELECT on its tables only (docs/deployment.md)"
    role = conn.exec_driver_sql(
        "SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, rolreplication FROM pg_roles "
        "WHERE rolname = current_user").one()
    for held, what in zip(role, ("is a superuser: it can read and write files and run programs on the host",
                                 "can create roles (CREATEROLE)", "can create databases (CREATEDB)",
                                 "bypasses row-level security (BYPASSRLS)", "is a replication role"),
                          strict=True):
        if held:
            findings.append(PrivilegeFinding(what, fix))
    for server_role in _PG_SERVER_ROLES:
        member = conn.execute(sa.text("SELECT pg_has_role(current_user, :r, 'MEMBER')"), {"r": server_role}).scalar()
        if member:
            findings.append(PrivilegeFinding(f"is a member of {server_role}", fix))
    writes = conn.exec_driver_sql(
        "SELECT DISTINCT privilege_type FROM information_schema.table_privileges "
        "WHERE grantee = current_user AND privilege_type NOT IN ('SELECT') ORDER BY 1").scalars().all()
    if writes and not role[0]:
        findings.append(PrivilegeFinding(f"can change tables: {', '.join(writes)}", fix))
    return findings


def _sqlite_findings(conn: Connection) -> list[PrivilegeFinding]:
    path = conn.engine.url.database
    if path and path != ":memory:" and os.access(path, os.W_OK):
        return [PrivilegeFinding(f"the SQLite file {os.path.basename(path)} is writable by this process "
                                 "(reads use PRAGMA query_only)",
                                 "for a copy of production data, make the file read-only (chmod a-w)")]
    return []
