"""Template SQL is refused at validation unless it is one read-only SELECT."""

from __future__ import annotations

import pytest

from hfit_dagster.errors import QueryRefused
from hfit_dagster.template.query import ExportQuery

REFUSED = [
    "DELETE FROM customers", "UPDATE customers SET email = 'x'", "INSERT INTO customers (id) VALUES (1)",
    "REPLACE INTO customers (id) VALUES (1)", "DROP TABLE customers", "TRUNCATE TABLE customers",
    "CREATE TABLE x AS SELECT * FROM customers", "ALTER TABLE customers ADD COLUMN x INT",
    "GRANT SELECT ON customers TO bob", "SET GLOBAL general_log = 0", "CALL do_something()",
    "SELECT 1; SELECT 2", "SELECT * FROM customers; DELETE FROM customers",
    "SELECT * FROM customers /* ; */ ; DROP TABLE customers",
    "SELECT * FROM customers INTO OUTFILE '/tmp/x'", "SELECT * INTO DUMPFILE '/tmp/x' FROM customers",
    "SELECT * FROM customers INTO @a", "SELECT LOAD_FILE('/etc/passwd')",
    "SELECT * FROM customers FOR UPDATE", "SELECT * FROM customers LOCK IN SHARE MODE",
    "SELECT * FROM customers FOR SHARE", "SELECT SLEEP(10)", "SELECT * FROM customers WHERE SLEEP(1) = 0",
    "SELECT BENCHMARK(1000000, MD5('a'))", "SELECT GET_LOCK('a', 10)", "SELECT RELEASE_LOCK('a')",
    "SELECT pg_sleep(1)", "SELECT pg_read_file('/etc/passwd')", "SELECT nextval('seq')",
    "SELECT setval('seq', 1)", "SELECT lo_import('/etc/passwd')", "SELECT pg_terminate_backend(1)",
    "SELECT dblink_exec('x', 'DROP TABLE t')", "SELECT load_extension('x')",
    "WITH d AS (DELETE FROM customers RETURNING *) SELECT * FROM d",
    "WITH u AS (UPDATE customers SET email = NULL RETURNING id) SELECT * FROM u",
    "SELECT * FROM (SELECT SLEEP(1)) AS x", "SELECT (SELECT BENCHMARK(1, 1))",
    "COPY customers TO '/tmp/x'", "LOAD DATA INFILE '/tmp/x' INTO TABLE customers", "PRAGMA writable_schema = 1",
    "EXPLAIN SELECT * FROM customers", "SHOW TABLES", "USE mysql", "BEGIN", "COMMIT", "", "   ",
    "SELECT * FROM", "not sql at all",
]

ACCEPTED = [
    "SELECT * FROM customers", "SELECT c.* FROM customers c WHERE c.id IN :ids",
    "SELECT * FROM orders WHERE customer_id IN :customers.id AND created_at >= :since",
    "WITH recent AS (SELECT id FROM orders WHERE created_at >= :since) SELECT o.* FROM orders o JOIN recent r "
    "ON r.id = o.id",
    "SELECT * FROM customers WHERE last_purchase_date >= DATE_SUB(NOW(), INTERVAL 30 DAY) LIMIT 50",
    "SELECT * FROM a UNION SELECT * FROM b", "SELECT DISTINCT p.* FROM products p ORDER BY p.id LIMIT :n",
    "SELECT * FROM customers WHERE note = 'it''s; DROP TABLE x'",
]


@pytest.mark.parametrize("query", REFUSED)
def test_refused(query: str) -> None:
    """Writes, several statements, file access, locks and side-effect functions never reach a database."""
    with pytest.raises(QueryRefused):
        ExportQuery.parse(query)


@pytest.mark.parametrize("query", ACCEPTED)
def test_accepted(query: str) -> None:
    ExportQuery.parse(query)
