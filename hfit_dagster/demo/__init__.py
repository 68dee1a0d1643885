"""The embedded demo source: a deterministic "shop" database on any SQLAlchemy URL."""

from hfit_dagster.demo.shop_generator import (
    FIRST_CUSTOMER_ID,
    INCIDENT_CUSTOMER_IDS,
    INCIDENT_END,
    INCIDENT_START,
    generate_shop,
)
from hfit_dagster.demo.shop_schema import metadata

__all__ = [
    "FIRST_CUSTOMER_ID",
    "INCIDENT_CUSTOMER_IDS",
    "INCIDENT_END",
    "INCIDENT_START",
    "generate_shop",
    "metadata",
]
