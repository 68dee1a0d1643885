"""The benchmark's reference dataset in the local MariaDB and PostgreSQL, generated once per scale with SQL only.

Rows come from MariaDB's Sequence engine (``seq_1_to_N``) and PostgreSQL's ``generate_series`` through
``INSERT ... SELECT`` with deterministic expressions that pick from small name lists, so a million customers
take seconds, not the hour a Faker loop would. Both servers get the very same rows (the expressions are
written once per dialect, :func:`pg_matches_mysql` compares a sample). A marker table records the scale and
the dataset version: a database whose marker matches is reused as it is, anything else is dropped and
generated again.

Shape (default scale): customers 1M (name, email, phone, address, city, a free-text note), orders 3M
(each customer has exactly three, scattered over the table), order_items 8M (2-3 per order, in order).
Notes: ``NOTE_PII_PERCENT`` % of customers have a note naming them with their phone and email,
``NOTE_PLAIN_PERCENT`` % a note from a short list of plain sentences, the rest NULL.
"""

# SQL here is built from integers and this module's own constants only (no outside input):
# ruff: noqa: S608
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import psycopg
import pymysql

DATASET_VERSION = 6
MARKER = "hfit_bench_marker"
NOTE_PII_PERCENT = 5
NOTE_PLAIN_PERCENT = 35
INSERT_CHUNK = 1_000_000


@dataclass(frozen=True)
class Scale:
    name: str
    customers: int
    orders: int
    order_items: int

    @property
    def database(self) -> str:
        return f"hfit_bench_{self.name}"

    @property
    def rows(self) -> int:
        return self.customers + self.orders + self.order_items


SCALES: dict[str, Scale] = {
    "tiny": Scale("tiny", 2_000, 6_000, 16_000),
    "small": Scale("small", 50_000, 150_000, 400_000),
    "medium": Scale("medium", 200_000, 600_000, 1_600_000),
    "default": Scale("default", 1_000_000, 3_000_000, 8_000_000),
}

FIRST = ("Sofia", "Lukas", "Matteo", "Giulia", "Jonas", "Elena", "Hugo", "Ines", "Clara", "Felix", "Nora", "Pablo",
         "Marta", "Tomas", "Ingrid", "Rafael", "Yara", "Viktor", "Amelie", "Bruno", "Carmen", "Diego", "Freya",
         "Gustav", "Helena", "Karim", "Lena", "Milan", "Nadia", "Omar", "Quentin", "Rosa", "Stefan", "Ulrich",
         "Vera", "Xavier", "Aurelio", "Bettina", "Dragan", "Elif", "Fintan", "Greta", "Hedda", "Ilse", "Jorunn",
         "Kasimir", "Lorenzo", "Mirela", "Oda", "Radek", "Mateo", "Sigrun", "Teodor")
LAST = ("Rossi", "Muller", "Novak", "Bernard", "Kowalski", "Costa", "Moreau", "Dubois", "Romano", "Ricci",
        "Horvat", "Kovac", "Pereira", "Becker", "Hoffmann", "Fontaine", "Marino", "Greco", "Lindqvist", "Nowak",
        "Wojcik", "Petrov", "Ivanova", "Popescu", "Ionescu", "Varga", "Toth", "Byrne", "Esposito", "Bianchi",
        "Lefebvre", "Girard", "Zielinski", "Szabo", "Dvorak", "Lindgren", "Haugen", "Bakker", "Visser",
        "Janssens", "Peeters", "Brannigan", "Quigley", "Oyelaran", "Kaminski", "Moretti", "Ferrari")
STREETS = ("Oak Street", "Maple Avenue", "Cedar Lane", "Pine Road", "Elm Street", "Birch Way", "Willow Drive",
           "Harbour Road", "Station Street", "Mill Lane", "Church Road", "Park Avenue", "High Street",
           "Kings Road", "Queens Walk", "River Street", "Hill Crescent", "Garden Close", "Bridge Street",
           "Market Square", "Victoria Road", "North Lane", "South Parade", "West End", "East Gate",
           "Forest Road", "Lake View", "Meadow Close", "Orchard Way", "School Lane")
CITIES = ("Lisbon", "Porto", "Madrid", "Lyon", "Milan", "Turin", "Munich", "Hamburg", "Vienna", "Prague",
          "Krakow", "Gdansk", "Zagreb", "Ljubljana", "Copenhagen", "Aarhus", "Oslo", "Bergen", "Dublin", "Cork",
          "Leeds", "Bristol", "Ghent", "Utrecht", "Basel", "Graz", "Brno", "Porto Alegre", "Valencia", "Seville")
DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "web.de", "mail.pt", "proton.me", "gmx.net")
PLAIN_NOTES = ("Prefers delivery in the morning.", "VIP customer, handle with care.",
               "Asked for paper invoices.", "Returns often; check sizes.", "Gift wrapping on every order.",
               "Business account, VAT exempt.", "Do not call before 9am.", "Loyalty programme member since launch.")
STATUSES = ("new", "paid", "shipped", "delivered", "cancelled", "refunded")



def _q(name: str) -> str:
    """A MySQL identifier quoted by SQLAlchemy's preparer."""
    from sqlalchemy.dialects import mysql

    return mysql.dialect().identifier_preparer.quote_identifier(name)

def _elt(index_sql: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
    return f"ELT(1 + ({index_sql}) % {len(values)}, {quoted})"


def _customer_select(lo: int, hi: int) -> str:
    first = _elt("seq", FIRST)
    last = _elt("seq DIV 7 + seq * 3", LAST)
    domain = _elt("seq DIV 3", DOMAINS)
    street = _elt("seq * 17", STREETS)
    city = _elt("seq * 31 + seq DIV 101", CITIES)
    plain = _elt("seq DIV 100", PLAIN_NOTES)
    name = f"CONCAT({first}, ' ', {last})"
    email = f"LOWER(CONCAT({first}, '.', {last}, seq, '@', {domain}))"
    # 13 digits: a fake phone is a keyed permutation of the same digit shape, so with N originals the leak
    # check expects N * N / 10**13 fakes that happen to equal another customer's real number (0.1 at 1M)
    phone = "CONCAT('+49 1', LPAD(seq % 100, 2, '0'), ' ', LPAD((seq * 7919) % 100000000, 8, '0'))"
    bucket = "(seq * 37) % 100"
    note = (f"CASE WHEN {bucket} < {NOTE_PII_PERCENT} THEN "
            f"CONCAT('Called ', {name}, ' on ', {phone}, "
            f"IF(seq % 2 = 0, '; wants updates at ', '; confirm by mail: '), {email}, '.') "
            f"WHEN {bucket} < {NOTE_PII_PERCENT + NOTE_PLAIN_PERCENT} THEN {plain} ELSE NULL END")
    return (
        "SELECT seq, " + name + ", " + email + ", " + phone + ", "
        f"CONCAT(1 + seq % 240, ' ', {street}), {city}, {note}, "
        "TIMESTAMP('2020-01-01') + INTERVAL (seq * 97) % 150000000 SECOND "
        f"FROM seq_{lo}_to_{hi}"
    )


def _order_select(lo: int, hi: int, customers: int) -> str:
    status = _elt("seq * 7 + seq DIV 13", STATUSES)
    return (
        f"SELECT seq, 1 + (seq * 7919) % {customers}, {status}, "
        "ROUND(5 + ((seq * 104729) % 99500) / 100, 2), "
        "TIMESTAMP('2021-01-01') + INTERVAL (seq * 61) % 120000000 SECOND, "
        "IF(seq % 10 = 0, 'EXPRESS', NULL) "
        f"FROM seq_{lo}_to_{hi}"
    )


def _item_select(lo: int, hi: int, orders: int, items: int) -> str:
    return (
        f"SELECT seq, 1 + ((seq - 1) * {orders}) DIV {items}, "
        "CONCAT('SKU-', LPAD((seq * 7) % 5000, 5, '0')), 1 + seq % 4, "
        "ROUND(1 + ((seq * 7877) % 19900) / 100, 2) "
        f"FROM seq_{lo}_to_{hi}"
    )


DDL = (
    """CREATE TABLE customers (
        id INT NOT NULL PRIMARY KEY,
        name VARCHAR(100) NOT NULL,
        email VARCHAR(190) NOT NULL,
        phone VARCHAR(32) NOT NULL,
        address VARCHAR(200) NOT NULL,
        city VARCHAR(60) NOT NULL,
        note TEXT NULL,
        created_at DATETIME NOT NULL
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
    """CREATE TABLE orders (
        id INT NOT NULL PRIMARY KEY,
        customer_id INT NOT NULL,
        status VARCHAR(16) NOT NULL,
        total DECIMAL(12,2) NOT NULL,
        created_at DATETIME NOT NULL,
        shipping VARCHAR(16) NULL,
        KEY ix_orders_customer (customer_id),
        CONSTRAINT fk_orders_customer FOREIGN KEY (customer_id) REFERENCES customers (id)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
    """CREATE TABLE order_items (
        id BIGINT NOT NULL PRIMARY KEY,
        order_id INT NOT NULL,
        sku VARCHAR(24) NOT NULL,
        quantity SMALLINT NOT NULL,
        unit_price DECIMAL(10,2) NOT NULL,
        KEY ix_items_order (order_id),
        CONSTRAINT fk_items_order FOREIGN KEY (order_id) REFERENCES orders (id)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
)


def connect(database: str | None = None) -> Any:
    return pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", database=database,
                           charset="utf8mb4", autocommit=True, read_timeout=3600)


def is_ready(scale: Scale) -> bool:
    with connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = %s AND table_name = %s",
                    (scale.database, MARKER))
        if cur.fetchone()[0] == 0:
            return False
        cur.execute("SELECT scale, version, customers, orders, order_items FROM " + _q(scale.database) + "." + MARKER)
        row = cur.fetchone()
    return row == (scale.name, DATASET_VERSION, scale.customers, scale.orders, scale.order_items)


def ensure_dataset(scale: Scale, log: Any = print) -> float:
    """Generate the dataset of ``scale`` unless its marker says it is there; seconds spent (0 when reused)."""
    if is_ready(scale):
        log(f"dataset {scale.database}: present (version {DATASET_VERSION}), reused")
        return 0.0
    started = time.perf_counter()
    log(f"dataset {scale.database}: generating {scale.rows:,} rows ...")
    with connect() as conn, conn.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS " + _q(scale.database))
        cur.execute("CREATE DATABASE " + _q(scale.database) + " CHARACTER SET utf8mb4")
        cur.execute("USE " + _q(scale.database))
        for ddl in DDL:
            cur.execute(ddl)
        cur.execute("SET SESSION foreign_key_checks = 0, unique_checks = 0")
        jobs = [("customers", scale.customers, lambda lo, hi: _customer_select(lo, hi)),
                ("orders", scale.orders, lambda lo, hi: _order_select(lo, hi, scale.customers)),
                ("order_items", scale.order_items,
                 lambda lo, hi: _item_select(lo, hi, scale.orders, scale.order_items))]
        for table, total, select in jobs:
            t0 = time.perf_counter()
            for lo in range(1, total + 1, INSERT_CHUNK):
                hi = min(total, lo + INSERT_CHUNK - 1)
                cur.execute("INSERT INTO " + _q(table) + " " + select(lo, hi))  # generated, no user input
            log(f"  {table}: {total:,} rows in {time.perf_counter() - t0:.1f} s")
        cur.execute("ANALYZE TABLE customers, orders, order_items")
        cur.fetchall()
        cur.execute("CREATE TABLE " + MARKER + " (scale VARCHAR(16), version INT, customers INT, orders INT, "
                    "order_items INT, created_at DATETIME)")
        cur.execute("INSERT INTO " + MARKER + " VALUES (%s, %s, %s, %s, %s, NOW())",
                    (scale.name, DATASET_VERSION, scale.customers, scale.orders, scale.order_items))
    spent = time.perf_counter() - started
    log(f"dataset {scale.database}: generated in {spent:.1f} s")
    return spent


# -- PostgreSQL: the same rows ----------------------------------------------------------------------------

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"


def pg_url(scale: Scale) -> str:
    """The SQLAlchemy URL of the scale's PostgreSQL database (psycopg 3)."""
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{scale.database}"


def pg_connect(database: str | None = None) -> Any:
    dsn = PG_ADMIN if database is None else PG_ADMIN.replace("dbname=postgres", f"dbname={database}")
    return psycopg.connect(dsn, autocommit=True)


def _pq(name: str) -> str:
    """A PostgreSQL identifier quoted by SQLAlchemy's preparer."""
    from sqlalchemy.dialects import postgresql

    return postgresql.dialect().identifier_preparer.quote_identifier(name)


def _pg_pick(index_sql: str, values: tuple[str, ...]) -> str:
    """PostgreSQL's spelling of :func:`_elt`: the same list, the same index."""
    quoted = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
    return f"(ARRAY[{quoted}]::text[])[1 + ({index_sql}) % {len(values)}]"


def _pg_customer_select(lo: int, hi: int) -> str:
    first = _pg_pick("seq", FIRST)
    last = _pg_pick("seq / 7 + seq * 3", LAST)
    domain = _pg_pick("seq / 3", DOMAINS)
    street = _pg_pick("seq * 17", STREETS)
    city = _pg_pick("seq * 31 + seq / 101", CITIES)
    plain = _pg_pick("seq / 100", PLAIN_NOTES)
    name = f"CONCAT({first}, ' ', {last})"
    email = f"LOWER(CONCAT({first}, '.', {last}, seq, '@', {domain}))"
    phone = "CONCAT('+49 1', LPAD((seq % 100)::text, 2, '0'), ' ', LPAD(((seq * 7919) % 100000000)::text, 8, '0'))"
    bucket = "(seq * 37) % 100"
    note = (f"CASE WHEN {bucket} < {NOTE_PII_PERCENT} THEN "
            f"CONCAT('Called ', {name}, ' on ', {phone}, "
            f"CASE WHEN seq % 2 = 0 THEN '; wants updates at ' ELSE '; confirm by mail: ' END, {email}, '.') "
            f"WHEN {bucket} < {NOTE_PII_PERCENT + NOTE_PLAIN_PERCENT} THEN {plain} ELSE NULL END")
    return (
        "SELECT seq, " + name + ", " + email + ", " + phone + ", "
        f"CONCAT(1 + seq % 240, ' ', {street}), {city}, {note}, "
        "TIMESTAMP '2020-01-01' + ((seq * 97) % 150000000) * INTERVAL '1 second' "
        f"FROM generate_series({lo}::bigint, {hi}::bigint) AS seq"
    )


def _pg_order_select(lo: int, hi: int, customers: int) -> str:
    status = _pg_pick("seq * 7 + seq / 13", STATUSES)
    return (
        f"SELECT seq, 1 + (seq * 7919) % {customers}, {status}, "
        "ROUND(5 + ((seq * 104729) % 99500)::numeric / 100, 2), "
        "TIMESTAMP '2021-01-01' + ((seq * 61) % 120000000) * INTERVAL '1 second', "
        "CASE WHEN seq % 10 = 0 THEN 'EXPRESS' END "
        f"FROM generate_series({lo}::bigint, {hi}::bigint) AS seq"
    )


def _pg_item_select(lo: int, hi: int, orders: int, items: int) -> str:
    return (
        f"SELECT seq, 1 + ((seq - 1) * {orders}) / {items}, "
        "'SKU-' || LPAD(((seq * 7) % 5000)::text, 5, '0'), 1 + seq % 4, "
        "ROUND(1 + ((seq * 7877) % 19900)::numeric / 100, 2) "
        f"FROM generate_series({lo}::bigint, {hi}::bigint) AS seq"
    )


PG_DDL = (
    """CREATE TABLE customers (
        id integer NOT NULL, name varchar(100) NOT NULL, email varchar(190) NOT NULL, phone varchar(32) NOT NULL,
        address varchar(200) NOT NULL, city varchar(60) NOT NULL, note text NULL, created_at timestamp NOT NULL)""",
    """CREATE TABLE orders (
        id integer NOT NULL, customer_id integer NOT NULL, status varchar(16) NOT NULL, total numeric(12,2) NOT NULL,
        created_at timestamp NOT NULL, shipping varchar(16) NULL)""",
    """CREATE TABLE order_items (
        id bigint NOT NULL, order_id integer NOT NULL, sku varchar(24) NOT NULL, quantity smallint NOT NULL,
        unit_price numeric(10,2) NOT NULL)""",
)
# keys and indexes after the rows (faster than maintaining them row by row), as in the MariaDB tables
PG_KEYS = (
    "ALTER TABLE customers ADD PRIMARY KEY (id)",
    "ALTER TABLE orders ADD PRIMARY KEY (id)",
    "ALTER TABLE order_items ADD PRIMARY KEY (id)",
    "CREATE INDEX ix_orders_customer ON orders (customer_id)",
    "CREATE INDEX ix_items_order ON order_items (order_id)",
    "ALTER TABLE orders ADD CONSTRAINT fk_orders_customer FOREIGN KEY (customer_id) REFERENCES customers (id)",
    "ALTER TABLE order_items ADD CONSTRAINT fk_items_order FOREIGN KEY (order_id) REFERENCES orders (id)",
)


def pg_is_ready(scale: Scale) -> bool:
    with pg_connect() as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (scale.database,)).fetchone() is None:
            return False
    with pg_connect(scale.database) as conn:
        if conn.execute("SELECT to_regclass(%s)", (MARKER,)).fetchone()[0] is None:
            return False
        row = conn.execute("SELECT scale, version, customers, orders, order_items FROM " + MARKER).fetchone()
    return row == (scale.name, DATASET_VERSION, scale.customers, scale.orders, scale.order_items)


def ensure_pg_dataset(scale: Scale, log: Any = print) -> float:
    """:func:`ensure_dataset` for PostgreSQL: the same rows in database ``hfit_bench_<scale>``."""
    if pg_is_ready(scale):
        log(f"dataset {scale.database} (PostgreSQL): present (version {DATASET_VERSION}), reused")
        return 0.0
    started = time.perf_counter()
    log(f"dataset {scale.database} (PostgreSQL): generating {scale.rows:,} rows ...")
    with pg_connect() as conn:
        conn.execute("DROP DATABASE IF EXISTS " + _pq(scale.database))
        conn.execute("CREATE DATABASE " + _pq(scale.database) + " ENCODING 'UTF8' TEMPLATE template0")
    with pg_connect(scale.database) as conn:
        conn.execute("SET synchronous_commit = off")
        for ddl in PG_DDL:
            conn.execute(ddl)
        jobs = [("customers", scale.customers, _pg_customer_select),
                ("orders", scale.orders, lambda lo, hi: _pg_order_select(lo, hi, scale.customers)),
                ("order_items", scale.order_items,
                 lambda lo, hi: _pg_item_select(lo, hi, scale.orders, scale.order_items))]
        for table, total, select in jobs:
            t0 = time.perf_counter()
            for lo in range(1, total + 1, INSERT_CHUNK):
                hi = min(total, lo + INSERT_CHUNK - 1)
                conn.execute("INSERT INTO " + _pq(table) + " " + select(lo, hi))  # generated, no user input
            log(f"  {table}: {total:,} rows in {time.perf_counter() - t0:.1f} s")
        for statement in PG_KEYS:
            conn.execute(statement)
        # frozen, visible to all and analyzed: the first read sets no hint bits, as later ones
        conn.execute("VACUUM (FREEZE, ANALYZE) customers, orders, order_items")
        conn.execute("CREATE TABLE " + MARKER + " (scale varchar(16), version integer, customers integer, "
                     "orders integer, order_items integer, created_at timestamptz)")
        conn.execute("INSERT INTO " + MARKER + " VALUES (%s, %s, %s, %s, %s, now())",
                     (scale.name, DATASET_VERSION, scale.customers, scale.orders, scale.order_items))
    spent = time.perf_counter() - started
    log(f"dataset {scale.database} (PostgreSQL): generated in {spent:.1f} s")
    return spent


def pg_matches_mysql(scale: Scale, ids: tuple[int, ...] = (1, 2, 3, 97, 100, 1001, 65_537)) -> list[str]:
    """Tables whose rows of ``ids`` differ between the two servers' datasets (both must be generated)."""
    differ = []
    for table in ("customers", "orders", "order_items"):
        wanted = [i for i in ids if i <= getattr(scale, table)]
        with connect(scale.database) as conn, conn.cursor() as cur:
            cur.execute("SELECT * FROM " + _q(table) + " WHERE id IN %s ORDER BY id", (wanted,))
            mysql_rows = [tuple(r) for r in cur.fetchall()]
        with pg_connect(scale.database) as conn:
            pg_rows = [tuple(r) for r in conn.execute("SELECT * FROM " + _pq(table) + " WHERE id = ANY(%s) "
                                                      "ORDER BY id", (wanted,)).fetchall()]
        if mysql_rows != pg_rows:
            differ.append(table)
    return differ


if __name__ == "__main__":
    import sys

    chosen = SCALES[sys.argv[1] if len(sys.argv) > 1 else "small"]
    ensure_dataset(chosen)
    ensure_pg_dataset(chosen)
    print("rows differ between the servers in:", pg_matches_mysql(chosen) or "no table")
