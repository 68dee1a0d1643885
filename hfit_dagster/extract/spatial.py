"""Spatial column types for reflection, so MySQL/MariaDB geometry columns are kept, not dropped.

SQLAlchemy does not know MySQL's geometry types and reflects them as NullType (no DDL, unknown values).
Registering them makes a POINT column come back as POINT in a MySQL package; values travel as the
server's internal geometry bytes (SRID + WKB), which MySQL accepts back as a binary literal, exactly as
mysqldump does. Other target dialects receive the bytes in a binary column.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects.mysql import base as mysql_base
from sqlalchemy.types import UserDefinedType

SPATIAL_TYPES = ("geometry", "point", "linestring", "polygon", "multipoint", "multilinestring",
                 "multipolygon", "geometrycollection")


class SpatialType(UserDefinedType[bytes]):
    cache_ok = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.spatial_name = "GEOMETRY"

    def get_col_spec(self, **kw: Any) -> str:
        return self.spatial_name


def _named(name: str) -> type[SpatialType]:
    """A module-level subclass per geometry name (module-level so reflected tables can be pickled)."""

    def __init__(self: SpatialType, *args: Any, **kwargs: Any) -> None:
        self.spatial_name = name.upper()

    cls = type(f"Spatial{name.title()}", (SpatialType,), {"__init__": __init__, "cache_ok": True,
                                                           "__module__": __name__})
    globals()[cls.__name__] = cls
    return cls


def register_spatial_types() -> None:
    for name in SPATIAL_TYPES:
        mysql_base.ischema_names.setdefault(name, _named(name))


register_spatial_types()
