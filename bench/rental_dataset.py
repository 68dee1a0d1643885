"""A ten-table rental-shop schema in the local MariaDB, for the small-subset benchmark (``small_subset.py``).

The shape of the classic film-rental sample schemas (countries, cities, addresses, stores and their staff
with a store <-> staff foreign-key cycle, customers, films, inventory, rentals, payments), generated here
with SQL only (``INSERT ... SELECT`` from MariaDB's Sequence engine, deterministic expressions over short
word lists), so no outside data is loaded or committed. A marker table records the dataset version: a
database whose marker matches is reused, anything else is dropped and generated again (a few seconds).

Each customer has exactly ``RENTALS_PER_CUSTOMER`` rentals, each rental one payment, each rental one copy
(inventory) of a film: a subset of N customers with their rentals and payments, parents followed, is about
N * (3 * RENTALS_PER_CUSTOMER) + N rows plus their stores, staff, addresses, cities and countries.
"""

# SQL here is built from integers and this module's own constants only (no outside input):
# ruff: noqa: S608
from __future__ import annotations

import time

import pymysql

DATABASE = "hfit_bench_rental"
DATASET_VERSION = 2
MARKER = "hfit_bench_marker"
COUNTRIES = 100
CITIES = 600
STORES = 10
STAFF_PER_STORE = 2
CUSTOMERS = 20_000
FILMS = 5_000
INVENTORY = 40_009  # not a divisor of the rental stride (CUSTOMERS): a customer rents 12 different copies
RENTALS_PER_CUSTOMER = 12

WORDS = ("Amber", "Brave", "Crimson", "Distant", "Electric", "Frozen", "Golden", "Hidden", "Iron", "Jade", "Lonely",
         "Midnight", "Northern", "Orange", "Painted", "Quiet", "Restless", "Silver", "Twisted", "Velvet")
NOUNS = ("Harbour", "Garden", "Voyage", "Mirror", "Summit", "Island", "Circus", "Empire", "Lantern", "Orchard",
         "Canyon", "Station", "Frontier", "Meadow", "Tempest", "Bridge", "Cellar", "Comet", "Desert", "Falcon")
FIRST = ("Sofia", "Lukas", "Matteo", "Giulia", "Jonas", "Elena", "Hugo", "Ines", "Clara", "Felix", "Nora", "Pablo",
         "Marta", "Tomas", "Ingrid", "Rafael", "Yara", "Viktor", "Amelie", "Bruno", "Carmen", "Diego", "Freya")
LAST = ("Rossi", "Muller", "Novak", "Bernard", "Kowalski", "Costa", "Moreau", "Dubois", "Romano", "Ricci",
        "Horvat", "Kovac", "Pereira", "Becker", "Hoffmann", "Fontaine", "Marino", "Greco", "Lindqvist", "Nowak")
STREETS = ("Oak Street", "Maple Avenue", "Cedar Lane", "Pine Road", "Elm Street", "Birch Way", "Willow Drive",
           "Harbour Road", "Station Street", "Mill Lane", "Church Road", "Park Avenue", "High Street")
DISTRICTS = ("North", "South", "East", "West", "Central", "Harbour", "Old Town", "Riverside")

SCHEMA = """
CREATE TABLE country (
  country_id SMALLINT UNSIGNED NOT NULL PRIMARY KEY,
  country VARCHAR(50) NOT NULL,
  last_update TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE city (
  city_id SMALLINT UNSIGNED NOT NULL PRIMARY KEY,
  city VARCHAR(50) NOT NULL,
  country_id SMALLINT UNSIGNED NOT NULL,
  last_update TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  KEY idx_fk_country_id (country_id),
  CONSTRAINT fk_city_country FOREIGN KEY (country_id) REFERENCES country (country_id)
);
CREATE TABLE address (
  address_id INT UNSIGNED NOT NULL PRIMARY KEY,
  address VARCHAR(50) NOT NULL,
  district VARCHAR(20) NOT NULL,
  city_id SMALLINT UNSIGNED NOT NULL,
  postal_code VARCHAR(10) DEFAULT NULL,
  phone VARCHAR(20) NOT NULL,
  last_update TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  KEY idx_fk_city_id (city_id),
  CONSTRAINT fk_address_city FOREIGN KEY (city_id) REFERENCES city (city_id)
);
CREATE TABLE store (
  store_id TINYINT UNSIGNED NOT NULL PRIMARY KEY,
  manager_staff_id TINYINT UNSIGNED NOT NULL,
  address_id INT UNSIGNED NOT NULL,
  last_update TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  UNIQUE KEY idx_unique_manager (manager_staff_id),
  KEY idx_fk_address_id (address_id),
  CONSTRAINT fk_store_address FOREIGN KEY (address_id) REFERENCES address (address_id)
);
CREATE TABLE staff (
  staff_id TINYINT UNSIGNED NOT NULL PRIMARY KEY,
  first_name VARCHAR(45) NOT NULL,
  last_name VARCHAR(45) NOT NULL,
  address_id INT UNSIGNED NOT NULL,
  email VARCHAR(50) DEFAULT NULL,
  store_id TINYINT UNSIGNED NOT NULL,
  active TINYINT(1) NOT NULL DEFAULT 1,
  username VARCHAR(16) NOT NULL,
  last_update TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  KEY idx_fk_store_id (store_id),
  KEY idx_fk_address_id (address_id),
  CONSTRAINT fk_staff_store FOREIGN KEY (store_id) REFERENCES store (store_id),
  CONSTRAINT fk_staff_address FOREIGN KEY (address_id) REFERENCES address (address_id)
);
ALTER TABLE store ADD CONSTRAINT fk_store_staff FOREIGN KEY (manager_staff_id) REFERENCES staff (staff_id);
CREATE TABLE customer (
  customer_id INT UNSIGNED NOT NULL PRIMARY KEY,
  store_id TINYINT UNSIGNED NOT NULL,
  first_name VARCHAR(45) NOT NULL,
  last_name VARCHAR(45) NOT NULL,
  email VARCHAR(50) DEFAULT NULL,
  address_id INT UNSIGNED NOT NULL,
  active TINYINT(1) NOT NULL DEFAULT 1,
  create_date DATETIME NOT NULL,
  last_update TIMESTAMP NULL DEFAULT CURRENT_TIMESTAMP,
  KEY idx_fk_store_id (store_id),
  KEY idx_fk_address_id (address_id),
  KEY idx_last_name (last_name),
  CONSTRAINT fk_customer_address FOREIGN KEY (address_id) REFERENCES address (address_id),
  CONSTRAINT fk_customer_store FOREIGN KEY (store_id) REFERENCES store (store_id)
);
CREATE TABLE film (
  film_id INT UNSIGNED NOT NULL PRIMARY KEY,
  title VARCHAR(128) NOT NULL,
  release_year SMALLINT UNSIGNED DEFAULT NULL,
  rental_duration TINYINT UNSIGNED NOT NULL DEFAULT 3,
  rental_rate DECIMAL(4,2) NOT NULL DEFAULT 4.99,
  length SMALLINT UNSIGNED DEFAULT NULL,
  rating ENUM('G','PG','PG-13','R','NC-17') DEFAULT 'G',
  last_update TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  KEY idx_title (title)
);
CREATE TABLE inventory (
  inventory_id INT UNSIGNED NOT NULL PRIMARY KEY,
  film_id INT UNSIGNED NOT NULL,
  store_id TINYINT UNSIGNED NOT NULL,
  last_update TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  KEY idx_fk_film_id (film_id),
  KEY idx_store_id_film_id (store_id, film_id),
  CONSTRAINT fk_inventory_store FOREIGN KEY (store_id) REFERENCES store (store_id),
  CONSTRAINT fk_inventory_film FOREIGN KEY (film_id) REFERENCES film (film_id)
);
CREATE TABLE rental (
  rental_id INT NOT NULL PRIMARY KEY,
  rental_date DATETIME NOT NULL,
  inventory_id INT UNSIGNED NOT NULL,
  customer_id INT UNSIGNED NOT NULL,
  return_date DATETIME DEFAULT NULL,
  staff_id TINYINT UNSIGNED NOT NULL,
  last_update TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  KEY idx_fk_inventory_id (inventory_id),
  KEY idx_fk_customer_id (customer_id),
  KEY idx_fk_staff_id (staff_id),
  CONSTRAINT fk_rental_staff FOREIGN KEY (staff_id) REFERENCES staff (staff_id),
  CONSTRAINT fk_rental_inventory FOREIGN KEY (inventory_id) REFERENCES inventory (inventory_id),
  CONSTRAINT fk_rental_customer FOREIGN KEY (customer_id) REFERENCES customer (customer_id)
);
CREATE TABLE payment (
  payment_id INT UNSIGNED NOT NULL PRIMARY KEY,
  customer_id INT UNSIGNED NOT NULL,
  staff_id TINYINT UNSIGNED NOT NULL,
  rental_id INT DEFAULT NULL,
  amount DECIMAL(5,2) NOT NULL,
  payment_date DATETIME NOT NULL,
  last_update TIMESTAMP NULL DEFAULT CURRENT_TIMESTAMP,
  KEY idx_fk_staff_id (staff_id),
  KEY idx_fk_customer_id (customer_id),
  KEY fk_payment_rental (rental_id),
  CONSTRAINT fk_payment_rental FOREIGN KEY (rental_id) REFERENCES rental (rental_id) ON DELETE SET NULL,
  CONSTRAINT fk_payment_customer FOREIGN KEY (customer_id) REFERENCES customer (customer_id),
  CONSTRAINT fk_payment_staff FOREIGN KEY (staff_id) REFERENCES staff (staff_id)
);
"""

TABLES = ("country", "city", "address", "store", "staff", "customer", "film", "inventory", "rental", "payment")


def connect(database: str | None = None) -> pymysql.connections.Connection:
    return pymysql.connect(host="127.0.0.1", port=3306, user="root", database=database, autocommit=True)


def _pick(words: tuple[str, ...], expr: str) -> str:
    """SQL choosing one of ``words`` by the integer expression ``expr`` (deterministic)."""
    quoted = ", ".join("'" + w.replace("'", "''") + "'" for w in words)
    return f"ELT(1 + MOD({expr}, {len(words)}), {quoted})"


def _inserts() -> list[str]:
    staff = STORES * STAFF_PER_STORE
    # addresses: 1..CUSTOMERS for customers, then one per store, then one per staff member
    addresses = CUSTOMERS + STORES + staff
    rentals = CUSTOMERS * RENTALS_PER_CUSTOMER
    return [
        f"INSERT INTO country (country_id, country) SELECT seq, CONCAT({_pick(WORDS, 'seq')}, 'land ', seq) "
        f"FROM seq_1_to_{COUNTRIES}",
        f"INSERT INTO city (city_id, city, country_id) SELECT seq, CONCAT({_pick(NOUNS, 'seq * 7')}, ' ', "
        f"{_pick(WORDS, 'seq * 3')}, ' ', seq), 1 + MOD(seq * 31, {COUNTRIES}) FROM seq_1_to_{CITIES}",
        "INSERT INTO address (address_id, address, district, city_id, postal_code, phone) "
        f"SELECT seq, CONCAT(1 + MOD(seq * 13, 400), ' ', {_pick(STREETS, 'seq * 11')}), "
        f"{_pick(DISTRICTS, 'seq')}, 1 + MOD(seq * 17, {CITIES}), LPAD(MOD(seq * 7919, 100000), 5, '0'), "
        f"CONCAT('+4917', LPAD(MOD(seq * 104729, 100000000), 8, '0')) FROM seq_1_to_{addresses}",
        f"INSERT INTO store (store_id, manager_staff_id, address_id) SELECT seq, (seq - 1) * {STAFF_PER_STORE} + 1, "
        f"{CUSTOMERS} + seq FROM seq_1_to_{STORES}",
        "INSERT INTO staff (staff_id, first_name, last_name, address_id, email, store_id, username) "
        f"SELECT seq, {_pick(FIRST, 'seq * 5')}, {_pick(LAST, 'seq * 3')}, {CUSTOMERS + STORES} + seq, "
        "CONCAT('staff', seq, '@rental.example'), "
        f"1 + (seq - 1) DIV {STAFF_PER_STORE}, CONCAT('staff', seq) FROM seq_1_to_{staff}",
        "INSERT INTO customer (customer_id, store_id, first_name, last_name, email, address_id, active, create_date) "
        f"SELECT seq, 1 + MOD(seq, {STORES}), {_pick(FIRST, 'seq')}, {_pick(LAST, 'seq DIV 7')}, "
        f"CONCAT(LOWER({_pick(FIRST, 'seq')}), '.', LOWER({_pick(LAST, 'seq DIV 7')}), seq, '@mail.example'), seq, "
        f"MOD(seq, 17) <> 0, TIMESTAMP('2020-01-01') + INTERVAL MOD(seq * 7907, 1000) DAY FROM seq_1_to_{CUSTOMERS}",
        "INSERT INTO film (film_id, title, release_year, rental_duration, rental_rate, length, rating) "
        f"SELECT seq, CONCAT({_pick(WORDS, 'seq')}, ' ', {_pick(NOUNS, 'seq DIV 20')}, ' ', seq), "
        f"1980 + MOD(seq, 45), 3 + MOD(seq, 5), 0.99 + MOD(seq, 3) * 2, 60 + MOD(seq * 7, 120), "
        f"1 + MOD(seq, 5) FROM seq_1_to_{FILMS}",
        f"INSERT INTO inventory (inventory_id, film_id, store_id) SELECT seq, 1 + MOD(seq * 7, {FILMS}), "
        f"1 + MOD(seq, {STORES}) FROM seq_1_to_{INVENTORY}",
        # rentals scattered over the table: customer c's k-th rental is not next to its others
        "INSERT INTO rental (rental_id, rental_date, inventory_id, customer_id, return_date, staff_id) "
        f"SELECT seq, TIMESTAMP('2024-01-01') + INTERVAL MOD(seq * 7919, 31536000) SECOND, "
        f"1 + MOD(seq * 104729, {INVENTORY}), 1 + MOD(seq - 1, {CUSTOMERS}), "
        f"IF(MOD(seq, 23) = 0, NULL, TIMESTAMP('2024-01-01') + INTERVAL MOD(seq * 7919, 31536000) + 259200 SECOND), "
        f"1 + MOD(seq, {staff}) FROM seq_1_to_{rentals}",
        "INSERT INTO payment (payment_id, customer_id, staff_id, rental_id, amount, payment_date) "
        "SELECT rental_id, customer_id, staff_id, rental_id, 0.99 + MOD(rental_id, 10), rental_date "
        "FROM rental ORDER BY rental_id",
    ]


def _q(name: str) -> str:
    """A MySQL identifier quoted by SQLAlchemy's preparer."""
    from sqlalchemy.dialects import mysql

    return mysql.dialect().identifier_preparer.quote_identifier(name)


def ensure_dataset() -> float | None:
    """Generate the database unless its marker matches; the seconds it took, or None when reused."""
    with connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = %s AND table_name = %s",
                    (DATABASE, MARKER))
        if cur.fetchone()[0]:
            cur.execute(f"SELECT version FROM {_q(DATABASE)}.{_q(MARKER)}")
            row = cur.fetchone()
            if row is not None and row[0] == DATASET_VERSION:
                return None
        started = time.perf_counter()
        cur.execute(f"DROP DATABASE IF EXISTS {_q(DATABASE)}")
        cur.execute(f"CREATE DATABASE {_q(DATABASE)} CHARACTER SET utf8mb4")
        cur.execute(f"USE {_q(DATABASE)}")
        cur.execute("SET SESSION foreign_key_checks = 0")
        for statement in filter(None, (s.strip() for s in SCHEMA.split(";"))):
            cur.execute(statement)
        for statement in _inserts():
            cur.execute(statement)
        cur.execute("SET SESSION foreign_key_checks = 1")
        cur.execute(f"CREATE TABLE `{MARKER}` (version INT NOT NULL)")
        cur.execute(f"INSERT INTO `{MARKER}` VALUES (%s)", (DATASET_VERSION,))
        cur.execute(f"ANALYZE TABLE {', '.join(TABLES)}")
        cur.fetchall()
        return time.perf_counter() - started


if __name__ == "__main__":
    seconds = ensure_dataset()
    print(f"{DATABASE}: " + ("reused" if seconds is None else f"generated in {seconds:.1f} s"))
