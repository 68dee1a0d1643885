"""Personal numbers stored as NUMERIC/DECIMAL: a PostgreSQL numeric is read as its decimal text (to keep NaN), yet it
is a number to the watch over kept columns, which looks at whole numbers that could be identifiers (SSNs and
phone numbers) as it does at BIGINT ones, and leaves amounts alone; the masking plan treats a whole decimal
(NUMERIC(9,0) in PostgreSQL, DECIMAL(9,0) in MariaDB) as an integer, so an SSN column so declared is masked as
national ids and the package loads; the leak check still reads whole numeric columns (a masked phone kept as
digits in its row is a leak)."""

from __future__ import annotations

import subprocess
from decimal import Decimal
from pathlib import Path

import psycopg
import pyarrow as pa
import pymysql
import pytest

from hfit_dagster.errors import LeakDetected
from hfit_dagster.extract.arrow_types import DECIMAL_SCALE, TEXT_OF
from hfit_dagster.masking.plan import ColumnDecision, TableMaskingPlan
from hfit_dagster.pipeline.kept_column_watch import KeptColumnWatch, PersonalDataInKeptColumn
from hfit_dagster.pipeline.local_build import build_package
from hfit_dagster.settings import load_settings
from hfit_dagster.template.loader import parse_template
from tests.conftest import MARIADB, TEST_MASKING_KEY, fill_mariadb, mariadb_source_settings
from tests.pipeline.test_local_build import load_into_mariadb
from tests.privacy.column_outputs import originals_found
from tests.privacy.test_columns_mariadb import ssn_like

ROWS = 300


def _numeric_text(name: str, scale: int | None) -> pa.Field:
    metadata = {TEXT_OF: "numeric", **({} if scale is None else {DECIMAL_SCALE: str(scale)})}
    return pa.field(name, pa.string(), metadata=metadata)


def _kept(*names: str) -> TableMaskingPlan:
    return TableMaskingPlan("customers", {n: ColumnDecision(n, "keep", None, 0.9, "type NUMERIC", "type")
                                          for n in names})


def _watch(batch: pa.RecordBatch, *names: str) -> KeptColumnWatch:
    watch = KeptColumnWatch()
    watch.check("customers", _kept(*names), batch)
    return watch


def test_ssns_in_a_kept_numeric_text_column_are_found_like_bigint_ones() -> None:
    """SSNs in a PostgreSQL NUMERIC(9,0) (its text), a MySQL DECIMAL(9,0) (an Arrow decimal) and an unbounded
    numeric of whole values are found as in a BIGINT column: the error names the column and US_SSN, no value, and
    the rule that applies (national_id for a bounded whole decimal, as for a BIGINT; null for an unbounded one)."""
    ssns = ssn_like(ROWS)
    columns = {
        "tax_ref_text": (pa.array([str(v) for v in ssns] + ["NaN", None]), _numeric_text("tax_ref_text", 0)),
        "tax_ref_decimal": (pa.array([Decimal(v) for v in ssns] + [None, None], pa.decimal128(9, 0)),
                            pa.field("tax_ref_decimal", pa.decimal128(9, 0))),
        "tax_ref_unbounded": (pa.array([str(v) for v in ssns] + ["Infinity", None]),
                              _numeric_text("tax_ref_unbounded", None)),
        "tax_ref_bigint": (pa.array(ssns + [None, None], pa.int64()), pa.field("tax_ref_bigint", pa.int64())),
    }
    for name, (values, field) in columns.items():
        batch = pa.RecordBatch.from_arrays([values], schema=pa.schema([field]))
        with pytest.raises(PersonalDataInKeptColumn) as found:
            _watch(batch, name)
        message = str(found.value)
        assert f"customers.{name}" in message and "US_SSN" in message, name
        assert not any(str(v) in message for v in ssns[:50]), name
        # a whole decimal of a bounded precision is faked as an integer is; an unbounded numeric is nulled
        suggested = '"null"' if name == "tax_ref_unbounded" else "national_id"
        assert f"'masking: {{customers.{name}: {suggested}}}'" in (found.value.hint or ""), name


def test_amounts_and_counts_in_numeric_columns_are_not_looked_at() -> None:
    """A numeric with a fractional scale (an amount) is a number, not text: the watch skips it as it skips a MySQL
    DECIMAL(10,2), so no value of it is searched, however identifier-like; so is a whole column named an amount,
    and an unbounded numeric holding fractions."""
    ssns = ssn_like(ROWS)
    fields = [_numeric_text("total", 2), pa.field("price", pa.decimal128(12, 2)), _numeric_text("amount", 0),
              _numeric_text("reading", None)]
    batch = pa.RecordBatch.from_arrays([
        pa.array([f"{v}.00" for v in ssns]),
        pa.array([Decimal(v) for v in ssns], pa.decimal128(12, 2)),
        pa.array([str(v) for v in ssns]),
        pa.array([f"{v}.5" for v in ssns]),
    ], schema=pa.schema(fields))
    watch = _watch(batch, *batch.schema.names)
    assert watch.summary()["columns"] == {"customers.reading": 1}  # looked at as numbers: fractions, no id


@pytest.fixture
def numeric_source(tmp_path: Path, postgres_database, monkeypatch: pytest.MonkeyPatch):
    name = postgres_database()
    with psycopg.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={name}") as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE customers (id INT PRIMARY KEY, tax_ref NUMERIC(9,0), total NUMERIC(10,2))")
        cur.executemany("INSERT INTO customers VALUES (%s, %s, %s)",
                        [(i + 1, v, Decimal(i) / 4) for i, v in enumerate(ssn_like(1000))])
        conn.commit()
    monkeypatch.setenv("HFIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HFIT_MASKING_KEY", TEST_MASKING_KEY)
    monkeypatch.setenv("HFIT_PROVIDER_SRC_URL", f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}")
    monkeypatch.setenv("HFIT_BATCH_ROWS", "100")
    return load_settings()


TEMPLATE = """
templateName: privacy-numeric-ssn
exports:
  customers: {provider: SRC, query: 'SELECT * FROM customers ORDER BY id'}
masking:
  default: auto
"""


def _operators(built) -> dict[str, str]:
    return {c.name: c.masking["operator"] for t in built.manifest.tables for c in t.columns}


@pytest.mark.postgres
def test_a_numeric_ssn_column_of_a_postgres_source_is_masked_like_a_bigint_one(
        numeric_source, postgres_database) -> None:
    """SSNs in a PostgreSQL NUMERIC(9,0) column are masked as national ids, as in a BIGINT column: the build
    succeeds with the template's default, the package holds none of the SSNs and loads into PostgreSQL; the
    amounts beside them are kept."""
    built = build_package(parse_template(TEMPLATE), {}, numeric_source, dialect="postgresql")
    assert _operators(built)["tax_ref"] == "national_id" and _operators(built)["total"] == "keep"
    assert originals_found(built.path, [str(v) for v in ssn_like(1000)]) == []
    target = postgres_database()
    loaded = subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", target, "-v", "ON_ERROR_STOP=1",
                             "-q", "-X", "-f", str(built.path / "package.sql")], capture_output=True, timeout=300)
    assert loaded.returncode == 0, loaded.stderr.decode()[:500]
    with psycopg.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={target}") as conn:
        rows = conn.execute("SELECT tax_ref FROM customers WHERE tax_ref IS NOT NULL").fetchall()
    assert len(rows) == 1000 and all(r[0] == int(r[0]) and r[0] < 10**9 for r in rows)


@pytest.mark.mariadb
def test_a_decimal_ssn_column_of_a_mariadb_source_is_masked_like_a_bigint_one(
        tmp_path: Path, mariadb_database, monkeypatch: pytest.MonkeyPatch) -> None:
    """SSNs in a MariaDB DECIMAL(9,0) column are masked as national ids: the package holds none of them and loads
    into MariaDB, the column still DECIMAL(9,0) of whole numbers."""
    name = mariadb_database()
    fill_mariadb(name, {"customers": ("id INT PRIMARY KEY, tax_ref DECIMAL(9,0), total DECIMAL(10,2)",
                                      [(i + 1, v, Decimal(i) / 4) for i, v in enumerate(ssn_like(1000))])})
    settings = mariadb_source_settings(monkeypatch, tmp_path, name, batch_rows=100)
    built = build_package(parse_template(TEMPLATE), {}, settings)
    assert _operators(built)["tax_ref"] == "national_id" and _operators(built)["total"] == "keep"
    assert originals_found(built.path, [str(v) for v in ssn_like(1000)]) == []
    target = mariadb_database()
    load_into_mariadb(built.path, target)
    with pymysql.connect(**MARIADB, database=target) as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*), MAX(tax_ref) FROM customers WHERE tax_ref IS NOT NULL")
        count, top = cur.fetchone()
    assert count == 1000 and top < 10**9


@pytest.mark.postgres
def test_a_masked_phone_kept_in_a_whole_numeric_column_of_its_row_is_a_leak(tmp_path: Path, postgres_database,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The leak check skips numeric amounts but not whole numbers: a row's phone, masked in its text column and
    kept as digits in a NUMERIC(13,0) column of the same row, fails the build as a leak naming that column."""
    name = postgres_database()
    with psycopg.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={name}") as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE contacts (id INT PRIMARY KEY, phone VARCHAR(32), callback NUMERIC(13,0), "
                    "total NUMERIC(10,2))")
        cur.executemany("INSERT INTO contacts VALUES (%s, %s, %s, %s)",
                        [(i, f"+49 1{i % 100:02d} {(i * 7919) % 100_000_000:08d}",
                          int(f"491{i % 100:02d}{(i * 7919) % 100_000_000:08d}") if i == 150 else i * 1000 + 17,
                          Decimal(i) / 4) for i in range(1, 301)])
        conn.commit()
    monkeypatch.setenv("HFIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HFIT_MASKING_KEY", TEST_MASKING_KEY)
    monkeypatch.setenv("HFIT_PROVIDER_SRC_URL", f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}")
    template = """
templateName: privacy-numeric-leak
exports:
  contacts: {provider: SRC, query: 'SELECT * FROM contacts ORDER BY id'}
masking:
  contacts.phone: phone
  default: auto
"""
    with pytest.raises(LeakDetected) as leak:
        build_package(parse_template(template), {}, load_settings(), dialect="postgresql")
    assert "contacts.callback" in str(leak.value)


def test_digit_operators_and_hash_fake_a_whole_decimal_within_its_precision() -> None:
    """A MySQL DECIMAL(9,0) of SSNs masked by national_id, phone or hash stays DECIMAL(9,0): whole numbers of at most
    9 digits (it loads into the same column), none of them an original, the same original giving the same fake."""
    from hfit_dagster.masking.operators.base import MaskContext
    from hfit_dagster.masking.operators.registry import OPERATORS

    ssns = ssn_like(ROWS)
    values = pa.array([Decimal(v) for v in ssns] + [None, Decimal(ssns[0])], pa.decimal128(9, 0))
    for name in ("national_id", "phone", "hash"):
        masked = OPERATORS.get(name).operate(values, MaskContext(key=TEST_MASKING_KEY.encode()))
        assert masked.type == pa.decimal128(9, 0), name
        fakes = masked.to_pylist()
        assert fakes[ROWS] is None and fakes[ROWS + 1] == fakes[0], name
        assert all(0 <= f < 10**9 and f == int(f) for f in fakes[:ROWS]), name
        assert not set(int(f) for f in fakes[:ROWS]) & set(ssns), name
