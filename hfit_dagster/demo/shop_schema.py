"""Schema of the embedded demo "shop" database.

Seven tables with real primary keys, foreign keys, unique constraints and secondary indexes, written
with SQLAlchemy Core so the same ``metadata`` creates them on SQLite, MariaDB/MySQL and PostgreSQL.
Every constraint and index gets an explicit name through the naming convention, so DDL is stable
across dialects and runs.

Tables, parent first: ``customers``, ``products``, ``addresses``, ``payment_methods``, ``orders``,
``order_items``, ``payments``.
"""

from __future__ import annotations

import sqlalchemy as sa

NAMING_CONVENTION: dict[str, str] = {
    "pk": "pk_%(table_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

SEGMENTS: tuple[str, ...] = ("standard", "premium", "enterprise", "beta_users")
REGIONS: tuple[str, ...] = ("EU", "US", "APAC")
ADDRESS_KINDS: tuple[str, ...] = ("shipping", "billing")
PAYMENT_METHOD_KINDS: tuple[str, ...] = ("card", "paypal", "sepa")
ORDER_STATUSES: tuple[str, ...] = (
    "processing",
    "paid",
    "shipped",
    "delivered",
    "cancelled",
    "refunded",
    "payment_failed",
)
PAYMENT_STATUSES: tuple[str, ...] = ("succeeded", "failed", "refunded")

customers = sa.Table(
    "customers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("first_name", sa.String(60), nullable=False),
    sa.Column("last_name", sa.String(60), nullable=False),
    sa.Column("email", sa.String(160), nullable=False),
    sa.Column("phone", sa.String(32)),
    sa.Column("date_of_birth", sa.Date),
    sa.Column("segment", sa.String(20), nullable=False),
    sa.Column("region", sa.String(8), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("last_purchase_date", sa.DateTime, nullable=True),
    sa.Column("total_lifetime_value", sa.Numeric(12, 2), nullable=False),
    sa.Column("is_active", sa.Boolean, nullable=False),
    sa.Column("notes", sa.Text, nullable=True),
    sa.UniqueConstraint("email"),
    sa.Index(None, "last_purchase_date"),
    sa.Index(None, "segment"),
)

products = sa.Table(
    "products",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("sku", sa.String(32), nullable=False),
    sa.Column("name", sa.String(120), nullable=False),
    sa.Column("category", sa.String(40), nullable=False),
    sa.Column("price", sa.Numeric(10, 2), nullable=False),
    sa.Column("stock", sa.Integer, nullable=False),
    sa.UniqueConstraint("sku"),
    sa.Index(None, "category"),
)

addresses = sa.Table(
    "addresses",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), nullable=False),
    sa.Column("kind", sa.String(10), nullable=False),
    sa.Column("street", sa.String(120), nullable=False),
    sa.Column("city", sa.String(80), nullable=False),
    sa.Column("postal_code", sa.String(16), nullable=False),
    sa.Column("country", sa.String(2), nullable=False),
    sa.Index(None, "customer_id"),
)

payment_methods = sa.Table(
    "payment_methods",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), nullable=False),
    sa.Column("kind", sa.String(12), nullable=False),
    sa.Column("card_number", sa.String(25), nullable=True),
    sa.Column("card_expiry", sa.String(7), nullable=True),
    sa.Column("iban", sa.String(34), nullable=True),
    sa.Column("paypal_email", sa.String(160), nullable=True),
    sa.Column("is_default", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Index(None, "customer_id"),
)

orders = sa.Table(
    "orders",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), nullable=False),
    sa.Column("shipping_address_id", sa.Integer, sa.ForeignKey("addresses.id"), nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("total", sa.Numeric(12, 2), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Index(None, "customer_id"),
    sa.Index(None, "created_at"),
)

order_items = sa.Table(
    "order_items",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("order_id", sa.Integer, sa.ForeignKey("orders.id"), nullable=False),
    sa.Column("product_id", sa.Integer, sa.ForeignKey("products.id"), nullable=False),
    sa.Column("quantity", sa.Integer, nullable=False),
    sa.Column("unit_price", sa.Numeric(10, 2), nullable=False),
    sa.Index(None, "order_id"),
    sa.Index(None, "product_id"),
)

payments = sa.Table(
    "payments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("order_id", sa.Integer, sa.ForeignKey("orders.id"), nullable=False),
    sa.Column("payment_method_id", sa.Integer, sa.ForeignKey("payment_methods.id"), nullable=False),
    sa.Column("amount", sa.Numeric(12, 2), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("error_message", sa.String(255), nullable=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Index(None, "order_id"),
    sa.Index(None, "payment_method_id"),
    sa.Index(None, "created_at"),
)
