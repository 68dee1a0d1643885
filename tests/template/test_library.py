"""Every template in templates/ builds over the demo source with the parameters the user guide shows,
and every package loads into MariaDB with all foreign keys satisfied."""

from __future__ import annotations

import pytest

from hfit_dagster.pipeline.local_build import build_package
from hfit_dagster.settings import HfitSettings
from hfit_dagster.template.loader import discover_templates, resolve_template
from tests.conftest import TEMPLATES
from tests.pipeline.test_local_build import dangling_foreign_keys, load_into_mariadb, row_counts

# (template, parameters) as written in the developer workflow guide; ids of the demo source at test scale
GUIDE_COMMANDS = [
    ("daily-dev-scenario", {}),
    ("integration-test-suite", {}),
    ("customer-checkout-complex", {}),
    ("customer-journey-comprehensive", {}),
    ("edge-case-customers", {}),
    ("ci-integration-suite", {}),
    ("incident-2024-1015", {"start_time": "2024-10-15 14:30:00", "end_time": "2024-10-15 15:00:00"}),
    ("payment-incident-2024-1015", {"customer_ids": "10012,10150,10420", "start_time": "2024-10-15 14:30:00",
                                    "end_time": "2024-10-15 15:00:00"}),
    ("performance-test-dataset", {"row_limit": "100000", "include_indexes": "true"}),
    ("performance-baseline", {"table_size_factor": "0.1"}),
    ("legacy-migration-validation", {"business_rules": "complex_pricing,multi_currency,tax_calculations",
                                     "date_range": "last_6_months"}),
    ("feature-flag-test-segments", {"user_segments": "premium,enterprise,beta_users"}),
    ("large-dataset", {"sample_rate": "0.1"}),
    ("large-dataset", {"start_date": "2024-01-01", "end_date": "2024-01-31"}),
    ("my-scenario", {"row_limit": "1000", "debug_mode": "true"}),
    ("test-scenario", {}),
]


def test_every_template_is_covered() -> None:
    assert {name for name, _ in GUIDE_COMMANDS} | {"payment-incident"} == set(discover_templates(TEMPLATES))


@pytest.mark.mariadb
@pytest.mark.parametrize(("template", "params"), GUIDE_COMMANDS, ids=[f"{t}-{i}" for i, (t, _) in
                                                                       enumerate(GUIDE_COMMANDS)])
def test_guide_command_builds_and_loads(template: str, params: dict[str, str], settings: HfitSettings,
                                        mariadb_database) -> None:
    built = build_package(resolve_template(template, TEMPLATES).spec, params, settings)
    assert built.manifest.total_rows() > 0
    assert built.manifest.params.keys() >= params.keys()
    database = mariadb_database()
    load_into_mariadb(built.path, database)
    assert row_counts(database) == {t.name: t.rows for t in built.manifest.tables}
    assert set(dangling_foreign_keys(database).values()) <= {0}
