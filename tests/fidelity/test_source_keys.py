"""Foreign-key values that match their parent only under a MariaDB ``_ci`` collation: the build is refused
with the foreign key named and the cause said (never a bare count of missing keys, never the values)."""

from __future__ import annotations

from pathlib import Path

import pymysql
import pytest

from hfit_dagster.errors import ProviderError
from hfit_dagster.pipeline.local_build import build_package
from hfit_dagster.template.loader import parse_template
from tests.conftest import MARIADB, mariadb_source_settings

TEMPLATE = """
templateName: ci-keys
exports:
  orders: {provider: SRC, query: "SELECT * FROM orders"}
subset: {follow_parents: true}
masking: {default: keep}
"""


@pytest.mark.mariadb
def test_keys_matching_only_under_the_collation_name_the_foreign_key(mariadb_database, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    name = mariadb_database()
    with pymysql.connect(**MARIADB, database=name, charset="utf8mb4") as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE customers (code VARCHAR(10) COLLATE utf8mb4_general_ci PRIMARY KEY, note TEXT)")
        cur.execute("CREATE TABLE orders (id INT PRIMARY KEY, customer_code VARCHAR(10) COLLATE utf8mb4_general_ci, "
                    "CONSTRAINT fk_order_customer FOREIGN KEY (customer_code) REFERENCES customers (code))")
        cur.execute("INSERT INTO customers VALUES ('abc-secret', 'x'), ('def', 'y')")
        cur.execute("INSERT INTO orders VALUES (1, 'ABC-SECRET'), (2, 'def'), (3, NULL)")
        conn.commit()
    settings = mariadb_source_settings(monkeypatch, tmp_path, name, 100)
    with pytest.raises(ProviderError) as info:
        build_package(parse_template(TEMPLATE), {}, settings, dialect="sqlite")
    message = str(info.value)
    assert "1 key(s) of orders(customer_code) -> customers(code)" in message and "collation" in message
    assert "secret" not in message.lower()
