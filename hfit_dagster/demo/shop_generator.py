"""Deterministic generator for the embedded demo "shop" database.

``generate_shop(url)`` drops and recreates the seven shop tables at any SQLAlchemy URL and fills them with
realistic, seeded data: Faker names and addresses, unique emails, phones in several national formats,
Luhn-valid card numbers, valid IBANs, free-text notes that mention people, and a skewed order history.
The same ``seed`` and ``now`` always give the same rows, on every dialect.

Faker is only used to fill small pools (names, streets, cities) once; rows combine pool entries with one
seeded ``random.Random``, which keeps 10,000 customers to a few seconds.

The payment incident of the developer guide is always present: on 2024-10-15 between 14:30 and 15:00
there are orders and payments, some failing with "Invalid payment method for customer ID <id>"; customers
12847, 15923 and 18442 (when they exist) fail at about 14:45.
"""

from __future__ import annotations

import bisect
import itertools
import random
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from faker import Faker

from hfit_dagster.demo import shop_schema as schema

FIRST_CUSTOMER_ID = 10_001
INCIDENT_START = datetime(2024, 10, 15, 14, 30, 0)
INCIDENT_END = datetime(2024, 10, 15, 15, 0, 0)
INCIDENT_CUSTOMER_IDS: tuple[int, ...] = (12847, 15923, 18442)
INCIDENT_ERROR = "Invalid payment method for customer ID {customer_id}"
# The guide's incident report says 23 customers were affected: the three named ones plus 20 others.
INCIDENT_OTHER_FAILED = 20
INCIDENT_SUCCEEDED = 40

PRODUCT_COUNT = 500
INSERT_CHUNK = 5_000
POOL_NAMES_PER_LOCALE = 400
POOL_ADDRESSES_PER_COUNTRY = 300

_SECOND = timedelta(seconds=1)
_DAY = timedelta(days=1)
HISTORY_FLOOR = datetime(2024, 1, 1)


@dataclass(frozen=True)
class _Country:
    code: str
    locale: str
    currency: str


_COUNTRIES: tuple[_Country, ...] = (
    _Country("US", "en_US", "USD"),
    _Country("GB", "en_GB", "GBP"),
    _Country("DE", "de_DE", "EUR"),
    _Country("FR", "fr_FR", "EUR"),
    _Country("NL", "nl_NL", "EUR"),
    _Country("ES", "es_ES", "EUR"),
    _Country("IT", "it_IT", "EUR"),
    _Country("IE", "en_IE", "EUR"),
    _Country("AU", "en_AU", "AUD"),
    _Country("NZ", "en_NZ", "NZD"),
    _Country("IN", "en_IN", "USD"),
)
_COUNTRY_BY_CODE = {c.code: c for c in _COUNTRIES}
_REGION_COUNTRIES: dict[str, tuple[tuple[str, ...], tuple[int, ...]]] = {
    "EU": (("GB", "DE", "FR", "NL", "ES", "IT", "IE"), (22, 26, 18, 10, 11, 9, 4)),
    "US": (("US",), (1,)),
    "APAC": (("AU", "NZ", "IN"), (55, 15, 30)),
}
_REGION_WEIGHTS = (("EU", 45), ("US", 40), ("APAC", 15))
_SEGMENT_WEIGHTS = (("standard", 70), ("premium", 18), ("beta_users", 7), ("enterprise", 5))

_EMAIL_DOMAINS: dict[str, tuple[str, ...]] = {
    "US": ("gmail.com", "yahoo.com", "outlook.com", "icloud.com", "hotmail.com", "aol.com", "example.com"),
    "GB": ("gmail.com", "outlook.com", "btinternet.com", "yahoo.co.uk", "hotmail.co.uk", "example.co.uk"),
    "DE": ("gmail.com", "gmx.de", "web.de", "t-online.de", "posteo.de", "example.de"),
    "FR": ("gmail.com", "orange.fr", "free.fr", "laposte.net", "outlook.fr", "example.fr"),
    "NL": ("gmail.com", "ziggo.nl", "kpnmail.nl", "outlook.com", "example.nl"),
    "ES": ("gmail.com", "hotmail.es", "yahoo.es", "telefonica.net", "example.es"),
    "IT": ("gmail.com", "libero.it", "virgilio.it", "tiscali.it", "example.it"),
    "IE": ("gmail.com", "eircom.net", "outlook.com", "example.ie"),
    "AU": ("gmail.com", "bigpond.com", "outlook.com", "optusnet.com.au", "example.com.au"),
    "NZ": ("gmail.com", "xtra.co.nz", "outlook.com", "example.co.nz"),
    "IN": ("gmail.com", "rediffmail.com", "yahoo.co.in", "outlook.com", "example.in"),
}
_WORK_DOMAINS = ("acme-corp.com", "globex.io", "initech.net", "umbrella-group.org", "example.org")

_IBAN_BANKS: dict[str, tuple[str, ...]] = {
    "GB": ("NWBK", "BARC", "HBUK", "LOYD", "MIDL"),
    "IE": ("AIBK", "BOFI", "IPBS"),
    "NL": ("ABNA", "RABO", "INGB", "SNSB", "TRIO"),
}

_CATEGORIES: dict[str, tuple[str, tuple[str, ...], tuple[int, int]]] = {
    "Electronics": (
        "ELE",
        (
            "Headphones",
            "USB-C Charger",
            "Bluetooth Speaker",
            "Keyboard",
            "Wireless Mouse",
            "Monitor",
            "Webcam",
            "USB-C Hub",
            "Power Bank",
            "Smartwatch",
        ),
        (1500, 45000),
    ),
    "Home & Kitchen": (
        "HOM",
        (
            "Chef's Knife",
            "Frying Pan",
            "Coffee Grinder",
            "Kettle",
            "Toaster",
            "Cutting Board",
            "Storage Jar Set",
            "Table Lamp",
            "Throw Blanket",
            "Espresso Cups",
        ),
        (800, 18000),
    ),
    "Books": (
        "BOO",
        (
            "Cookbook",
            "Travel Guide",
            "Novel",
            "Biography",
            "Atlas",
            "Poetry Collection",
            "Programming Handbook",
            "Children's Book",
        ),
        (600, 5500),
    ),
    "Clothing": (
        "CLO",
        ("T-Shirt", "Hoodie", "Rain Jacket", "Jeans", "Wool Socks", "Sneakers", "Scarf", "Beanie"),
        (900, 16000),
    ),
    "Sports & Outdoors": (
        "SPO",
        (
            "Yoga Mat",
            "Water Bottle",
            "Running Belt",
            "Camping Stove",
            "Trekking Poles",
            "Dumbbell Set",
            "Bike Light",
            "Day Pack",
        ),
        (700, 25000),
    ),
    "Toys & Games": (
        "TOY",
        ("Board Game", "Puzzle", "Building Blocks", "Plush Bear", "Card Game", "Kite", "Model Kit"),
        (500, 9000),
    ),
    "Beauty": (
        "BEA",
        ("Face Cream", "Shampoo", "Lip Balm", "Perfume", "Hair Dryer", "Nail Kit"),
        (400, 12000),
    ),
    "Garden": (
        "GAR",
        ("Garden Hose", "Pruning Shears", "Seed Kit", "Planter", "Watering Can", "Solar Lantern"),
        (600, 14000),
    ),
    "Office": (
        "OFF",
        ("Notebook", "Fountain Pen", "Desk Organizer", "Stapler", "Desk Mat", "Monitor Stand"),
        (300, 9000),
    ),
    "Grocery": (
        "GRO",
        ("Coffee Beans", "Green Tea", "Olive Oil", "Dark Chocolate", "Honey", "Granola"),
        (300, 3500),
    ),
}
_PRODUCT_ADJECTIVES = (
    "Classic",
    "Premium",
    "Eco",
    "Compact",
    "Deluxe",
    "Essential",
    "Pro",
    "Vintage",
    "Urban",
    "Nordic",
    "Organic",
    "Ultra",
    "Smart",
    "Travel",
    "Everyday",
    "Heritage",
)
_PRODUCT_COLOURS = (
    "Black",
    "White",
    "Navy",
    "Olive",
    "Sand",
    "Charcoal",
    "Red",
    "Sky Blue",
    "Forest Green",
    "Natural",
)

_PAYMENT_ERRORS = (
    "Card declined: insufficient funds",
    "Card declined: do not honor",
    "Card expired",
    "3-D Secure authentication failed",
    "Issuer unavailable, please retry",
    "Incorrect CVC",
    "SEPA mandate rejected by bank",
    "PayPal session timed out",
)

_NOTE_TEMPLATES = (
    "Called {name} back on {phone} about a refund; prefers mail to {email}.",
    "{name} reported a damaged parcel. Follow up via {email} within two days.",
    "VIP: {name} prefers to be contacted by phone ({phone}) after 5pm.",
    "Chargeback dispute opened; {name} sent the delivery proof from {email}.",
    "Gift order for {other}; {name} wants the invoice sent to {email}.",
    "Address change requested by {name} over the phone, call back on {phone} to confirm.",
    "Spoke to {name}: parcel left with neighbour {other}, who can be reached on {other_phone}.",
    "Duplicate account merged. {name} will only use {email} from now on.",
    "Customer {name} asked us to stop marketing calls to {phone}.",
    "Delivery issue escalated by {other} on behalf of {name}; reply to {email}.",
)
_PLAIN_NOTES = (
    "Prefers eco packaging.",
    "Tax exempt, certificate on file.",
    "Asked for paper invoices only.",
    "Wholesale enquiry, forwarded to the B2B team.",
    "Do not ship on Saturdays.",
)

# Orders per customer: skewed, mean about 3; a few "whales" are added separately.
_ORDERS_PER_CUSTOMER = (
    (0, 10), (1, 24), (2, 22), (3, 14), (4, 10), (5, 7), (6, 5), (7, 3), (8, 2), (9, 1), (10, 1), (12, 1),
)  # fmt: skip
_ITEMS_PER_ORDER = ((1, 35), (2, 25), (3, 17), (4, 10), (5, 7), (6, 4), (7, 2))
_QUANTITIES = ((1, 70), (2, 18), (3, 7), (4, 3), (6, 2))


@dataclass
class _Pools:
    first_names: dict[str, list[str]]
    last_names: dict[str, list[str]]
    addresses: dict[str, list[tuple[str, str, str]]]


@dataclass
class _Customer:
    id: int
    first_name: str
    last_name: str
    email: str
    phone: str | None
    date_of_birth: date | None
    segment: str
    region: str
    country: str
    created_at: datetime
    is_active: bool
    notes: str | None = None
    shipping_address_id: int = 0
    payment_method_ids: list[tuple[int, datetime]] = field(default_factory=list)
    last_purchase: datetime | None = None
    lifetime_cents: int = 0


@dataclass
class _Order:
    customer: _Customer
    created_at: datetime
    status: str
    incident: str | None = None  # None, "failed_fixed", "failed" or "succeeded"
    digital: bool = False  # delivered without a shipping address (gift cards, e-books)
    id: int = 0
    total_cents: int = 0


def generate_shop(
    url: str,
    customers: int = 10_000,
    seed: int = 7,
    now: datetime | None = None,
) -> dict[str, int]:
    """Drop and recreate the shop tables at ``url``, fill them, and return the row count of each table.

    ``customers`` sets the scale (ids start at 10001 and are consecutive; about 3 orders per customer).
    ``now`` anchors the order history (about two years up to ``now``); it defaults to today 00:00 UTC so
    "last 30 days" queries find rows. The same ``seed`` and ``now`` give identical rows.
    """
    if customers < 0:
        raise ValueError("customers must be zero or more")
    anchor = _normalise_now(now)
    rows = _build(customers=customers, seed=seed, now=anchor)
    _prepare_sqlite_path(url)
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                # Enforce foreign keys while filling, so the generator proves its own integrity.
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                conn.commit()
            with conn.begin():
                schema.metadata.drop_all(conn)
                _create_tables(conn)
                counts: dict[str, int] = {}
                for table in schema.metadata.sorted_tables:
                    counts[table.name] = _insert(conn, table, rows[table.name])
    finally:
        engine.dispose()
    return {table.name: counts[table.name] for table in schema.metadata.sorted_tables}


def _create_tables(conn: sa.Connection) -> None:
    """``metadata.create_all`` with indexes in name order (``Table.indexes`` is a set), so the DDL, and
    with it a SQLite file's schema, does not depend on PYTHONHASHSEED."""
    for table in schema.metadata.sorted_tables:
        conn.execute(sa.schema.CreateTable(table))
        for index in sorted(table.indexes, key=lambda ix: str(ix.name)):
            conn.execute(sa.schema.CreateIndex(index))


def _normalise_now(now: datetime | None) -> datetime:
    if now is None:
        today = datetime.now(UTC).replace(tzinfo=None)
        return today.replace(hour=0, minute=0, second=0, microsecond=0)
    if now.tzinfo is not None:
        now = now.astimezone(UTC).replace(tzinfo=None)
    return now.replace(microsecond=0)


def _prepare_sqlite_path(url: str) -> None:
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def _insert(conn: sa.Connection, table: sa.Table, rows: Iterable[dict[str, Any]]) -> int:
    total = 0
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, INSERT_CHUNK)):
        conn.execute(table.insert(), chunk)
        total += len(chunk)
    return total


# --------------------------------------------------------------------------------------------- building


def _build(*, customers: int, seed: int, now: datetime) -> dict[str, Iterable[dict[str, Any]]]:
    rng = random.Random(seed)
    pools = _make_pools(rng.randrange(2**32))
    products, product_cum_weights = _make_products(rng)
    people = _make_customers(rng, pools, customers, now)
    roles = _incident_roles(rng, people)
    address_rows = _make_addresses(rng, pools, people)
    method_rows = _make_payment_methods(rng, people, now)
    orders = _make_orders(rng, people, roles, now)
    item_rows = _make_items(rng, orders, products, product_cum_weights)
    payment_rows = _make_payments(rng, orders)
    for order in orders:
        person = order.customer
        person.lifetime_cents += order.total_cents
        if person.last_purchase is None or order.created_at > person.last_purchase:
            person.last_purchase = order.created_at
    customer_rows = [_customer_row(p) for p in people]
    order_rows = [
        {
            "id": o.id,
            "customer_id": o.customer.id,
            "shipping_address_id": None if o.digital else o.customer.shipping_address_id,
            "status": o.status,
            "currency": _COUNTRY_BY_CODE[o.customer.country].currency,
            "total": _money(o.total_cents),
            "created_at": o.created_at,
        }
        for o in orders
    ]
    return {
        "customers": customer_rows,
        "products": products,
        "addresses": address_rows,
        "payment_methods": method_rows,
        "orders": order_rows,
        "order_items": item_rows,
        "payments": payment_rows,
    }


def _make_pools(faker_seed: int) -> _Pools:
    first_names: dict[str, list[str]] = {}
    last_names: dict[str, list[str]] = {}
    addresses: dict[str, list[tuple[str, str, str]]] = {}
    for index, country in enumerate(_COUNTRIES):
        fake = Faker(country.locale)
        fake.seed_instance(faker_seed + index)
        first_names[country.code] = [fake.first_name()[:60] for _ in range(POOL_NAMES_PER_LOCALE)]
        last_names[country.code] = [fake.last_name()[:60] for _ in range(POOL_NAMES_PER_LOCALE)]
        addresses[country.code] = [
            (fake.street_address().replace("\n", ", ")[:120], *_city_and_postcode(fake, country.code))
            for _ in range(POOL_ADDRESSES_PER_COUNTRY)
        ]
    return _Pools(first_names, last_names, addresses)


def _city_and_postcode(fake: Faker, country: str) -> tuple[str, str]:
    if country == "IT":
        # Faker's it_IT city() draws from a list built out of a set, so its order (and the city drawn)
        # depends on PYTHONHASHSEED; postcode_city_province() reads an ordered dict and pairs a real
        # postcode with its town.
        postcode, _, rest = fake.postcode_city_province().partition(", ")
        return rest.rsplit(" (", 1)[0][:80], postcode[:16]
    return fake.city()[:80], str(fake.postcode())[:16]


def _make_products(rng: random.Random) -> tuple[list[dict[str, Any]], list[float]]:
    rows: list[dict[str, Any]] = []
    categories = list(_CATEGORIES.items())
    for index in range(PRODUCT_COUNT):
        category, (code, nouns, (low, high)) = categories[index % len(categories)]
        name = f"{rng.choice(_PRODUCT_ADJECTIVES)} {rng.choice(nouns)}"
        if rng.random() < 0.5:
            name = f"{name} - {rng.choice(_PRODUCT_COLOURS)}"
        # Log-uniform price between low and high cents, ending in .99, .49 or .00 like a real shop.
        cents = int(low * (high / low) ** rng.random())
        cents = max(99, cents // 100 * 100 + rng.choice((99, 99, 49, 0)))
        rows.append(
            {
                "id": index + 1,
                "sku": f"{code}-{index + 1:05d}-{rng.randrange(16**4):04X}",
                "name": name,
                "category": category,
                "price": _money(cents),
                "stock": 0 if rng.random() < 0.04 else rng.randrange(1, 800),
            }
        )
    # Popularity follows a Zipf-like curve in a shuffled order, so bestsellers span categories.
    ranks = list(range(1, PRODUCT_COUNT + 1))
    rng.shuffle(ranks)
    cum_weights = list(itertools.accumulate(1.0 / rank**0.9 for rank in ranks))
    return rows, cum_weights


def _weighted(rng: random.Random, table: Sequence[tuple[Any, int]]) -> Any:
    values = [v for v, _ in table]
    weights = [w for _, w in table]
    return rng.choices(values, weights)[0]


def _make_customers(rng: random.Random, pools: _Pools, count: int, now: datetime) -> list[_Customer]:
    used_emails: set[str] = set()
    people: list[_Customer] = []
    span = timedelta(days=3 * 365)
    for index in range(count):
        region = _weighted(rng, _REGION_WEIGHTS)
        codes, weights = _REGION_COUNTRIES[region]
        country = rng.choices(codes, weights)[0]
        first = rng.choice(pools.first_names[country])
        last = rng.choice(pools.last_names[country])
        # Sign-ups grow with the id, so ids and created_at roughly agree, as in a real table.
        fraction = (index + rng.random()) / max(count, 1)
        created = now - span + span * fraction - _DAY
        created = created.replace(microsecond=0)
        birth = None
        if rng.random() > 0.12:
            birth = (now - timedelta(days=rng.randrange(18 * 365, 85 * 365))).date()
        person = _Customer(
            id=FIRST_CUSTOMER_ID + index,
            first_name=first,
            last_name=last,
            email=_unique_email(rng, first, last, country, used_emails),
            phone=_phone(rng, country) if rng.random() > 0.06 else None,
            date_of_birth=birth,
            segment=_weighted(rng, _SEGMENT_WEIGHTS),
            region=region,
            country=country,
            created_at=created,
            is_active=rng.random() < 0.92,
        )
        roll = rng.random()
        if roll < 0.30:
            person.notes = _note(rng, pools, person)
        elif roll < 0.35:
            person.notes = rng.choice(_PLAIN_NOTES)
        people.append(person)
    return people


def _ascii_slug(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    return "".join(ch for ch in folded if ch.isalnum()) or "user"


def _unique_email(rng: random.Random, first: str, last: str, country: str, used: set[str]) -> str:
    f, l_ = _ascii_slug(first), _ascii_slug(last)
    domains = _EMAIL_DOMAINS[country]
    for attempt in range(20):
        number = rng.randrange(1, 100 if attempt < 5 else 10_000)
        pattern = rng.randrange(7)
        local = (
            f"{f}.{l_}",
            f"{f}.{l_}{number}",
            f"{f[0]}{l_}{number}",
            f"{f}_{l_}",
            f"{l_}.{f}{number}",
            f"{f}{number}",
            f"{f}{l_[0]}{1950 + number % 60}",
        )[pattern]
        domain = rng.choice(_WORK_DOMAINS) if rng.random() < 0.08 else rng.choice(domains)
        email = f"{local}@{domain}"[:160]
        if email not in used:
            used.add(email)
            return email
    email = f"{f}.{l_}.{len(used)}@{domains[0]}"
    used.add(email)
    return email


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choices("0123456789", k=n))


def _phone(rng: random.Random, country: str) -> str:
    """A phone number in one of the formats people really type for ``country``."""

    def d(n: int) -> str:
        return _digits(rng, n)

    if country == "US":
        area, line = f"{rng.randrange(201, 990)}", f"01{d(2)}"
        return rng.choice(
            (
                f"+1 ({area}) 555-{line}",
                f"+1 (555) 01{d(1)}-{d(4)}",
                f"({area}) 555-{line}",
                f"{area}-555-{line}",
                f"+1 {area} 555 {line}",
                f"{area}.555.{line}",
                f"+1{area}555{line}",
            )
        )
    if country == "GB":
        return rng.choice(
            (
                f"020 7946 0{d(3)}",
                f"+44 20 7946 0{d(3)}",
                f"07700 900{d(3)}",
                f"+44 7700 900{d(3)}",
                f"0161 496 0{d(3)}",
                f"+447700900{d(3)}",
            )
        )
    if country == "DE":
        return rng.choice((f"+49 30 {d(8)}", f"030 {d(8)}", f"+49 151 {d(8)}", f"0151/{d(8)}"))
    if country == "FR":
        pairs = " ".join(d(2) for _ in range(4))
        return rng.choice((f"+33 {rng.randrange(1, 8)} {pairs}", f"0{rng.randrange(1, 8)} {pairs}"))
    if country == "NL":
        return rng.choice((f"+31 20 {d(3)} {d(4)}", f"06-{d(8)}", f"+31 6 {d(8)}"))
    if country == "ES":
        return rng.choice((f"+34 91 {d(3)} {d(2)} {d(2)}", f"6{d(2)} {d(3)} {d(3)}", f"+34 6{d(2)} {d(6)}"))
    if country == "IT":
        return rng.choice((f"+39 06 {d(4)} {d(4)}", f"3{d(2)} {d(3)} {d(4)}", f"+39 3{d(2)} {d(7)}"))
    if country == "IE":
        return rng.choice((f"+353 1 {d(3)} {d(4)}", f"08{rng.randrange(3, 10)} {d(3)} {d(4)}"))
    if country == "AU":
        return rng.choice((f"+61 2 {d(4)} {d(4)}", f"(02) {d(4)} {d(4)}", f"04{d(2)} {d(3)} {d(3)}"))
    if country == "NZ":
        return rng.choice((f"+64 9 {d(3)} {d(4)}", f"021 {d(3)} {d(4)}", f"(09) {d(3)} {d(4)}"))
    return rng.choice((f"+91 9{d(4)} {d(5)}", f"09{d(3)} {d(3)} {d(3)}", f"+91-9{d(9)}"))


def _note(rng: random.Random, pools: _Pools, person: _Customer) -> str:
    other_first = rng.choice(pools.first_names[person.country])
    other_last = rng.choice(pools.last_names[person.country])
    email = person.email
    if rng.random() < 0.3:  # an alternative address the customer mentioned
        local = f"{_ascii_slug(person.first_name)}.{_ascii_slug(person.last_name)}"
        email = f"{local}@{rng.choice(_WORK_DOMAINS)}"
    return rng.choice(_NOTE_TEMPLATES).format(
        name=f"{person.first_name} {person.last_name}",
        other=f"{other_first} {other_last}",
        email=email,
        phone=person.phone or _phone(rng, person.country),
        other_phone=_phone(rng, person.country),
    )


def _make_addresses(rng: random.Random, pools: _Pools, people: list[_Customer]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for person in people:
        kinds = ("shipping", "billing") if rng.random() < 0.4 else ("shipping",)
        for kind in kinds:
            street, city, postal_code = rng.choice(pools.addresses[person.country])
            address_id = len(rows) + 1
            if kind == "shipping":
                person.shipping_address_id = address_id
            rows.append(
                {
                    "id": address_id,
                    "customer_id": person.id,
                    "kind": kind,
                    "street": street,
                    "city": city,
                    "postal_code": postal_code,
                    "country": person.country,
                }
            )
    return rows


def _luhn_complete(partial: str) -> str:
    total = 0
    for position, char in enumerate(reversed(partial)):
        digit = int(char)
        if position % 2 == 0:  # these digits are doubled once the check digit is appended
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return partial + str((10 - total % 10) % 10)


def _card_number(rng: random.Random) -> str:
    brand = rng.random()
    if brand < 0.55:
        return _luhn_complete("4" + _digits(rng, 14))
    if brand < 0.85:
        return _luhn_complete(f"5{rng.randrange(1, 6)}" + _digits(rng, 13))
    return _luhn_complete(rng.choice(("34", "37")) + _digits(rng, 12))


def _iban(rng: random.Random, country: str) -> str:
    if country in _IBAN_BANKS:
        tail = 6 if country != "NL" else 0
        bban = rng.choice(_IBAN_BANKS[country]) + _digits(rng, tail + (8 if country != "NL" else 10))
    else:
        length = {"DE": 18, "FR": 23, "ES": 20, "IT": 22}.get(country, 18)
        bban = _digits(rng, length)
        if country == "IT":
            bban = rng.choice("ABCDEFGHIJKLMNOPRSTUVWXYZ") + bban
    rearranged = bban + country + "00"
    numeric = "".join(str(int(ch, 36)) for ch in rearranged)
    check = 98 - int(numeric) % 97
    return f"{country}{check:02d}{bban}"


def _make_payment_methods(rng: random.Random, people: list[_Customer], now: datetime) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for person in people:
        count = 2 if rng.random() < 0.35 else 1
        for position in range(count):
            if person.region == "EU":
                kind = rng.choices(("card", "sepa", "paypal"), (55, 25, 20))[0]
            else:
                kind = rng.choices(("card", "paypal"), (75, 25))[0]
            if position == 0:
                created = person.created_at + timedelta(seconds=rng.randrange(30, 900))
            else:
                window = max((now - person.created_at).total_seconds(), 3600.0)
                created = person.created_at + timedelta(seconds=int(window * rng.uniform(0.1, 0.9)))
            method_id = len(rows) + 1
            person.payment_method_ids.append((method_id, created))
            card_number = card_expiry = iban = paypal_email = None
            if kind == "card":
                card_number = _card_number(rng)
                expiry_year = created.year + rng.randrange(1, 6)
                card_expiry = f"{rng.randrange(1, 13):02d}/{expiry_year}"
            elif kind == "sepa":
                iban = _iban(rng, person.country)
            elif rng.random() < 0.7:
                paypal_email = person.email
            else:
                domain = rng.choice(_EMAIL_DOMAINS[person.country])
                paypal_email = f"{_ascii_slug(person.first_name)}.pay{person.id}@{domain}"
            rows.append(
                {
                    "id": method_id,
                    "customer_id": person.id,
                    "kind": kind,
                    "card_number": card_number,
                    "card_expiry": card_expiry,
                    "iban": iban,
                    "paypal_email": paypal_email,
                    "is_default": position == 0,
                    "created_at": created,
                }
            )
    return rows


def _order_status(rng: random.Random, created: datetime, now: datetime) -> str:
    age = now - created
    roll = rng.random()
    if roll < 0.03:
        return "cancelled"
    if roll < 0.06:
        return "refunded"
    if age < timedelta(days=2):
        return rng.choice(("processing", "paid"))
    if age < timedelta(days=10):
        return rng.choice(("paid", "shipped", "shipped", "delivered"))
    return "delivered"


def _random_time(rng: random.Random, start: datetime, end: datetime) -> datetime:
    seconds = max(int((end - start).total_seconds()), 1)
    return start + timedelta(seconds=rng.randrange(seconds))


def _incident_roles(rng: random.Random, people: list[_Customer]) -> dict[int, str]:
    """Which customers order in the incident window, and whether their payment fails.

    Customers in the incident who signed up after it are moved to have signed up before it.
    """
    count = len(people)
    roles = {cid: "failed_fixed" for cid in INCIDENT_CUSTOMER_IDS if 0 <= cid - FIRST_CUSTOMER_ID < count}
    others = [p.id for p in people if p.id not in roles]
    failed = min(INCIDENT_OTHER_FAILED, count // 10)
    succeeded = min(INCIDENT_SUCCEEDED, count // 5)
    chosen = rng.sample(others, min(failed + succeeded, len(others)))
    for cid in chosen[:failed]:
        roles[cid] = "failed"
    for cid in chosen[failed:]:
        roles[cid] = "succeeded"
    for cid in roles:
        person = people[cid - FIRST_CUSTOMER_ID]
        if person.created_at >= INCIDENT_START - _DAY:
            before = timedelta(days=rng.randrange(30, 400), seconds=rng.randrange(86_400))
            person.created_at = INCIDENT_START - before
    return roles


def _make_orders(
    rng: random.Random, people: list[_Customer], roles: dict[int, str], now: datetime
) -> list[_Order]:
    latest = now - timedelta(hours=1)
    recent_start = now - timedelta(days=30)
    # at least back to 2024-01-01, so the guide's examples (January 2024, the 2024-10-15 incident) find rows
    history_start = min(now - timedelta(days=730), HISTORY_FLOOR)
    orders: list[_Order] = []
    for person in people:
        role = roles.get(person.id)
        if role is not None:
            when = _incident_time(rng, role)
            status = "payment_failed" if role.startswith("failed") else "paid"
            orders.append(_Order(person, when, status, incident=role))
        count = _weighted(rng, _ORDERS_PER_CUSTOMER)
        if rng.random() < 0.01:
            count = rng.randrange(15, 40)  # a few very loyal customers
        first_possible = person.created_at + timedelta(hours=1)
        if first_possible >= latest:
            continue
        for _ in range(count):
            if rng.random() < 0.2:
                start = max(first_possible, recent_start)
            else:
                start = max(first_possible, history_start)
            created = _random_time(rng, start, latest)
            status = _order_status(rng, created, now)
            digital = status == "delivered" and rng.random() < 0.04
            orders.append(_Order(person, created, status, digital=digital))
    orders.sort(key=lambda o: (o.created_at, o.customer.id))
    for number, order in enumerate(orders, start=1):
        order.id = number
    return orders


def _incident_time(rng: random.Random, role: str) -> datetime:
    if role == "failed_fixed":
        # About 14:44, so the failed payment lands at about 14:45.
        return INCIDENT_START + timedelta(minutes=14, seconds=rng.randrange(0, 50))
    return INCIDENT_START + timedelta(seconds=rng.randrange(0, 28 * 60))


def _method_for(rng: random.Random, person: _Customer, when: datetime) -> int:
    usable = [mid for mid, created in person.payment_method_ids if created <= when]
    if not usable:
        return person.payment_method_ids[0][0]
    if len(usable) > 1 and rng.random() < 0.35:
        return usable[-1]
    return usable[0]


def _make_items(
    rng: random.Random,
    orders: list[_Order],
    products: list[dict[str, Any]],
    product_cum_weights: list[float],
) -> Iterator[dict[str, Any]]:
    """Draw the items of every order and set its total; the rows are built lazily while inserting."""
    price_cents = [int(p["price"] * 100) for p in products]
    items: list[tuple[int, int, int, int]] = []
    item_counts = [v for v, _ in _ITEMS_PER_ORDER]
    item_cum = list(itertools.accumulate(w for _, w in _ITEMS_PER_ORDER))
    qty_values = [v for v, _ in _QUANTITIES]
    qty_cum = list(itertools.accumulate(w for _, w in _QUANTITIES))
    total_weight = product_cum_weights[-1]
    for order in orders:
        n_items = rng.choices(item_counts, cum_weights=item_cum)[0]
        seen: set[int] = set()
        total = 0
        for _ in range(n_items):
            index = bisect.bisect(product_cum_weights, rng.random() * total_weight)
            index = min(index, len(products) - 1)
            if index in seen:
                continue
            seen.add(index)
            quantity = rng.choices(qty_values, cum_weights=qty_cum)[0]
            unit = price_cents[index]
            if rng.random() < 0.1:  # promotion
                unit = unit * rng.choice((80, 85, 90)) // 100
            total += unit * quantity
            items.append((order.id, index + 1, quantity, unit))
        order.total_cents = total
    return (
        {
            "id": number,
            "order_id": order_id,
            "product_id": product_id,
            "quantity": quantity,
            "unit_price": _money(unit),
        }
        for number, (order_id, product_id, quantity, unit) in enumerate(items, start=1)
    )


def _make_payments(rng: random.Random, orders: list[_Order]) -> list[dict[str, Any]]:
    """One payment per order; some orders have a failed attempt before the one that succeeded."""
    attempts: list[tuple[datetime, _Order, int, str, str | None]] = []
    for order in orders:
        person = order.customer
        method = _method_for(rng, person, order.created_at)
        paid_at = order.created_at + timedelta(seconds=rng.randrange(3, 120))
        if order.incident is not None:
            if order.incident == "failed_fixed":
                paid_at = INCIDENT_START + timedelta(minutes=15, seconds=rng.randrange(0, 20))
            paid_at = min(paid_at, INCIDENT_END - _SECOND)
            if order.incident.startswith("failed"):
                error = INCIDENT_ERROR.format(customer_id=person.id)
                attempts.append((paid_at, order, method, "failed", error))
            else:
                attempts.append((paid_at, order, method, "succeeded", None))
            continue
        if order.status == "cancelled":
            status = "failed" if rng.random() < 0.5 else "refunded"
            error = rng.choice(_PAYMENT_ERRORS) if status == "failed" else None
            attempts.append((paid_at, order, method, status, error))
            continue
        if rng.random() < 0.05:
            attempts.append((paid_at, order, method, "failed", rng.choice(_PAYMENT_ERRORS)))
            paid_at += timedelta(seconds=rng.randrange(60, 900))
            method = _method_for(rng, person, paid_at)
        status = "refunded" if order.status == "refunded" else "succeeded"
        attempts.append((paid_at, order, method, status, None))
    attempts.sort(key=lambda a: (a[0], a[1].id))
    return [
        {
            "id": number,
            "order_id": order.id,
            "payment_method_id": method,
            "amount": _money(order.total_cents),
            "status": status,
            "error_message": error,
            "created_at": when,
        }
        for number, (when, order, method, status, error) in enumerate(attempts, start=1)
    ]


def _money(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


def _customer_row(person: _Customer) -> dict[str, Any]:
    return {
        "id": person.id,
        "first_name": person.first_name,
        "last_name": person.last_name,
        "email": person.email,
        "phone": person.phone,
        "date_of_birth": person.date_of_birth,
        "segment": person.segment,
        "region": person.region,
        "created_at": person.created_at,
        "last_purchase_date": person.last_purchase,
        "total_lifetime_value": _money(person.lifetime_cents),
        "is_active": person.is_active,
        "notes": person.notes,
    }
