"""The check descriptions a user reads when a build is refused name what failed."""

from __future__ import annotations

from hfit_dagster.pipeline.checks import check_outcomes, failed_checks


def test_missing_referenced_keys_name_the_parent_key_they_point_at() -> None:
    """A dangling-key failure says which parent table and key columns the missing keys belong to."""
    checks = {"leak": {"passed": True}, "foreign_keys": {"dangling_references": 3,
                                                          "by_parent": {"customers(id)": 2, "products(sku)": 1}}}
    passed, text = check_outcomes(checks, follow_parents=True)["foreign_keys_satisfied"]
    assert not passed
    assert text == "3 referenced keys missing from the package; 2 of customers(id); 1 of products(sku)"
    assert failed_checks(checks, follow_parents=False) == []
