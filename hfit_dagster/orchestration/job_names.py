"""The names Dagster knows a template by (job, tables op, asset group), without importing Dagster: the API checks
a new template's job name against the others' before it stores it.

Every character of the template's name but letters, digits and ``_`` becomes ``_``, so names that differ only in
``-``, ``.`` and ``_`` share one job.
"""

import re


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def job_name(template: str) -> str:
    return f"build_{slug(template)}"


def tables_op_name(template: str) -> str:
    return f"{slug(template)}__tables"
