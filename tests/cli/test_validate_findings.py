"""``hfit pkg-tmpl validate``: unknown operators, undeclared and unused parameters, unknown providers, each at
its file and line; errors exit 3 (a template error), warnings print and pass."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hfit_dagster.cli.main import app

runner = CliRunner()

TEMPLATE = """\
templateName: lint-me
parameters:
  customer_ids: {type: "list[int]"}
  region: {type: str, default: eu}
  row_limit: {type: int, default: 10}
exports:
  customers:
    provider: PROD_REPLICA
    query: |
      SELECT *
      FROM customers
      WHERE id IN :customer_ids
        AND country = :country
  orders:
    provider: BILLING
    query: SELECT * FROM orders WHERE customer_id IN :customers.id
masking:
  customers.email: emial
  customers.notes: redact_text
schedule:
  cron: "0 8 * * 1"
  params: {row_limit: 5, colour: blue}
"""
CLEAN = """\
templateName: clean
parameters:
  customer_ids: {type: "list[int]"}
exports:
  customers:
    provider: PROD_REPLICA
    query: SELECT * FROM customers WHERE id IN :customer_ids
masking:
  customers.email: email
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home with no config file and no provider from the environment (tests add the ones they want)."""
    for key in os.environ:
        if key.startswith("HFIT_PROVIDER"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("HFIT_HOME", str(tmp_path / "home"))
    return tmp_path


def validate(path: Path) -> tuple[int, list[str], str]:
    result = runner.invoke(app, ["pkg-tmpl", "validate", str(path)])
    return result.exit_code, result.stderr.splitlines(), result.stdout


def test_every_finding_names_file_line_and_field(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HFIT_PROVIDER_PROD_REPLICA_URL", "sqlite://")
    path = home / "lint-me.yaml"
    path.write_text(TEMPLATE)
    code, lines, _out = validate(path)
    assert code == 3
    expected = [
        f"{path}:4: warning: parameters.region: declared but no query binds it",
        f"{path}:13: error: exports.customers.query: placeholder :country is not a declared parameter",
        f"{path}:15: error: exports.orders.provider: provider 'BILLING' (read by orders) is not configured "
        "(configured: PROD_REPLICA)",
        f"{path}:18: error: masking.customers.email: unknown masking operator 'emial' (did you mean 'email'?)",
        f"{path}:22: error: schedule.params.colour: 'colour' is neither a declared nor a built-in parameter",
    ]
    findings = [line for line in lines if ": error: " in line or ": warning: " in line]
    assert len(findings) == len(expected), lines
    for line, start in zip(findings, expected, strict=True):
        assert line.startswith(start), (line, start)
    # customer_ids is bound, row_limit is a built-in (declared for its default), redact_text is an operator
    assert not any("customer_ids" in line or "parameters.row_limit" in line or "redact_text" in line
                   for line in findings)
    assert any("4 errors" in line for line in lines)


def test_a_builtin_placeholder_must_be_declared_to_be_bound(home: Path) -> None:
    """Built-ins rewrite the template (row_limit caps rows); they are not SQL binds unless declared."""
    path = home / "limit.yaml"
    path.write_text(CLEAN.replace("IN :customer_ids", "IN :customer_ids LIMIT :row_limit"))
    code, lines, _out = validate(path)
    assert code == 3
    assert any(line.startswith(f"{path}:7: error: exports.customers.query: 'row_limit' is a built-in parameter")
               for line in lines), lines


def test_warnings_alone_pass(home: Path) -> None:
    """No providers configured: the provider cannot be checked, which is a warning; an unused parameter too."""
    path = home / "clean.yaml"
    path.write_text(CLEAN.replace("parameters:\n", "parameters:\n  unused: {type: int, default: 1}\n"))
    code, lines, out = validate(path)
    assert code == 0, lines
    assert [line.split(": warning: ")[0] for line in lines if ": warning: " in line] == [f"{path}:3", f"{path}:7"]
    assert "no providers are configured" in lines[-1]
    assert out.startswith(f"{path}: ok") and "(2 warnings)" in out


def test_a_clean_template_prints_no_findings(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HFIT_PROVIDER_PROD_REPLICA_URL", "sqlite://")
    path = home / "clean.yaml"
    path.write_text(CLEAN)
    code, lines, out = validate(path)
    assert (code, lines) == (0, [])
    assert out.startswith(f"{path}: ok — template 'clean'") and "warning" not in out


def test_schema_errors_keep_their_lines(home: Path) -> None:
    path = home / "broken.yaml"
    path.write_text(CLEAN.replace("masking:", "maskng:"))
    code, lines, _out = validate(path)
    assert code == 3 and any("line 8, maskng: unknown field" in line for line in lines), lines
