"""Masked values are valid for their column: length, character set, type (inet, cidr, MAC, enum label, array
element), uniqueness where the operator promises it, and the same fake for the same input."""

from __future__ import annotations

import ipaddress
import json
import re

import pyarrow as pa
import pytest
import sqlalchemy as sa

from hfit_dagster.errors import MaskingError
from hfit_dagster.masking import ColumnInfo, Masker, build_table_plan
from hfit_dagster.masking import vector_prf as vp
from hfit_dagster.masking.operators.base import ColumnLimits
from hfit_dagster.masking.operators.pools import fake_pools
from hfit_dagster.pipeline.table_plans import column_infos

KEY = b"fit-columns-test-key-0123456789ab"
EMAIL = re.compile(r"^[a-z0-9](?:[a-z0-9_-]|\.(?!\.))*(?<!\.)@example\.(?:com|net|org)$")
MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


NO_LIMITS = ColumnLimits()


def _mask(operator: str, values: list, limits: ColumnLimits = NO_LIMITS, type_: pa.DataType | None = None) -> list:
    array = pa.array(values, type_ or pa.string())
    return Masker(KEY).mask_array(operator, array, table="t", column="c", limits=limits).to_pylist()


_FIRST, _LAST = fake_pools().first_names, fake_pools().last_names
EMAILS = [f"{_FIRST[i % len(_FIRST)]}.with.a.long.{_LAST[i * 7 % len(_LAST)]}{i}@mail{i % 7}.example.co.uk".lower()
          for i in range(3000)]


@pytest.mark.parametrize(("max_length", "unique"), [(None, True), (60, True), (30, True), (24, True), (20, False),
                                                     (13, False)])
def test_email_fakes_fit_the_column_and_stay_valid(max_length: int | None, unique: bool) -> None:
    fakes = _mask("email", EMAILS, ColumnLimits(max_length))
    assert fakes == _mask("email", EMAILS, ColumnLimits(max_length))  # deterministic
    for fake in fakes:
        assert EMAIL.match(fake), fake
        assert max_length is None or len(fake) <= max_length
    if unique:
        assert len(set(fakes)) == len(EMAILS)


def test_email_fakes_that_fit_are_the_unlimited_fakes() -> None:
    unlimited = _mask("email", EMAILS)
    limited = _mask("email", EMAILS, ColumnLimits(40))
    assert all(f == u for f, u in zip(limited, unlimited, strict=True) if len(u) <= 40)
    assert any(len(u) > 40 for u in unlimited)


def test_an_email_column_too_short_for_a_reserved_domain_is_an_error_naming_no_value() -> None:
    with pytest.raises(MaskingError) as err:
        _mask("email", ["a@b.co"], ColumnLimits(12))
    assert "a@b.co" not in str(err.value)


@pytest.mark.parametrize(("max_length", "unique"), [(None, True), (32, True), (16, True), (8, False)])
def test_hashes_are_cut_to_the_column(max_length: int | None, unique: bool) -> None:
    values = [f"user_{i}" for i in range(3000)]
    fakes = _mask("hash", values, ColumnLimits(max_length))
    full = _mask("hash", values)
    assert all(re.fullmatch(r"[0-9a-f]+", f) for f in fakes)
    assert all(f == h[: max_length or 32] for f, h in zip(fakes, full, strict=True))
    if unique:
        assert len(set(fakes)) == len(values)


@pytest.mark.parametrize("operator", ["person_name", "first_name", "last_name", "street_address", "city"])
def test_pooled_fakes_fit_a_short_column(operator: str) -> None:
    values = [f"Somebody Name{i}" for i in range(300)]
    fakes = _mask(operator, values, ColumnLimits(6))
    assert fakes == _mask(operator, values, ColumnLimits(6))
    assert all(0 < len(f) <= 6 and f == f.rstrip() for f in fakes)


@pytest.mark.parametrize(("value", "network"), [
    ("10.0.0.1/8", False), ("192.168.0.0/16", True), ("172.16.5.4/32", False), ("2001:db8::1/64", False),
    ("fe80::/10", True), ("192.168.10.200", False), ("::1", False), ("0.0.0.0/0", True),
])
def test_inet_and_cidr_fakes_are_valid_with_their_prefix(value: str, network: bool) -> None:
    fake = _mask("ip_address", [value])[0]
    interface = ipaddress.ip_interface(fake)
    original = ipaddress.ip_interface(value)
    assert interface.version == original.version
    if "/" in value:
        assert interface.network.prefixlen == original.network.prefixlen
    if network:
        ipaddress.ip_network(fake, strict=True)  # host bits zero: a valid cidr
    else:
        assert interface.ip != original.ip


def test_ipv6_fakes_too_long_for_the_column_become_ipv4() -> None:
    values = ["::1", "2001:db8::42", "fe80::1/64", "192.168.10.200"]
    for fake in _mask("ip_address", values, ColumnLimits(15)):
        assert len(fake) <= 15
        ipaddress.ip_interface(fake)


@pytest.mark.parametrize("value", ["08:00:2b:01:02:03", "08-00-2B-01-02-03", "0800.2b01.0203",
                                   "08:00:2b:01:02:03:04:05"])
def test_mac_address_fakes_are_mac_addresses_in_the_same_layout(value: str) -> None:
    fake = _mask("shape", [value])[0]
    assert fake != value and len(fake) == len(value)
    assert re.sub(r"[0-9A-Fa-f]", "x", fake) == re.sub(r"[0-9A-Fa-f]", "x", value)
    assert (fake.upper() == fake) == (value.upper() == value)
    first = int(re.sub(r"[^0-9A-Fa-f]", "", fake)[:2], 16)
    assert first & 0x02 and not first & 0x01  # locally administered, unicast


def test_macaddr_column_fakes_match_the_mac_regex() -> None:
    values = [f"08:00:2b:{i // 256:02x}:{i % 256:02x}:03" for i in range(500)]
    fakes = _mask("shape", values)
    assert all(MAC.match(f) for f in fakes)


@pytest.mark.parametrize("operator", ["person_name", "hash", "email", "shape", "fixed", "phone"])
def test_enum_columns_get_one_of_their_labels(operator: str) -> None:
    labels = ("sad", "ok", "happy", "Jane Doe")
    values = ["happy", "sad", "Jane Doe", "ok", "happy", None]
    fakes = _mask(operator, values, ColumnLimits(labels=labels))
    assert fakes == _mask(operator, values, ColumnLimits(labels=labels))
    assert fakes[-1] is None and all(f in labels for f in fakes[:-1])
    assert fakes[0] == fakes[4]


@pytest.mark.parametrize(("value", "prefix"), [
    ("+44 20 7946 0958", "+44"), ("+1 415 555 0100", "+1"), ("+353871234567", "+353"), ("0044 20 7946 0958", "0044"),
    ("+358 40 1234567", "+358"), ("+49 (0)30 123456", "+49"),
])
def test_phone_fakes_keep_the_country_code_and_the_format(value: str, prefix: str) -> None:
    fake = _mask("phone", [value])[0]
    assert fake.startswith(prefix) and fake != value
    assert re.sub(r"\d", "9", fake) == re.sub(r"\d", "9", value)


def test_phone_fakes_stay_unique_per_country_code() -> None:
    values = [f"+44 20 7946 {i:04d}" for i in range(2000)] + [f"+1 415 555 {i:04d}" for i in range(2000)]
    fakes = _mask("phone", values)
    assert len(set(fakes)) == len(values)
    assert all(f.startswith("+44 ") for f in fakes[:2000]) and all(f.startswith("+1 ") for f in fakes[2000:])
    assert fakes == _mask("phone", values)


def test_national_phone_fakes_are_the_plain_digit_permutation() -> None:
    values = ["(212) 555-0199", "020 7946 0958", "5550100", "+06539759357"]  # the last: no known country code
    expected = vp.shape_fakes(KEY, "phone", pa.array(values), letters=False).to_pylist()
    assert _mask("phone", values) == expected


def test_array_columns_are_masked_element_by_element() -> None:
    values = [["a@b.co", "jo.long.name@example.com"], None, [], ["x.y@z.org", None]]
    fakes = _mask("email", values, ColumnLimits(24), pa.list_(pa.string()))
    assert fakes[1] is None and fakes[2] == [] and fakes[3][1] is None
    assert [len(v) for v in fakes[0::3]] == [2, 2]
    assert all(EMAIL.match(f) and len(f) <= 24 for f in (*fakes[0], fakes[3][0]))


def test_the_plan_keeps_enums_and_structured_types_and_carries_limits() -> None:
    columns = [ColumnInfo("id", "INTEGER", primary_key=True), ColumnInfo("mood", "mood", labels=("sad", "glad")),
               ColumnInfo("during", "TSTZRANGE"), ColumnInfo("email", "VARCHAR(24)", max_length=24)]
    sample = pa.table({"id": [1, 2, 3], "mood": ["glad", "sad", "glad"],
                       "during": ["+1 415 555 0100", "+1 415 555 0101", "+1 415 555 0102"],
                       "email": ["a@b.co", "c@d.org", "e@f.net"]})
    plan = build_table_plan("people", columns, sample, {})
    assert plan.decisions["mood"].operator == "keep" and plan.decisions["during"].operator == "keep"
    assert plan.decisions["email"].operator == "email"
    assert plan.limits("email") == ColumnLimits(24)
    batch = pa.record_batch({"id": [1], "mood": ["sad"], "during": ["x"], "email": ["jo.long.name@example.com"]})
    masked = Masker(KEY).mask_batch(plan, batch)
    assert len(masked.column("email")[0].as_py()) <= 24


def test_a_foreign_key_masked_like_its_parent_fits_the_parent_and_joins() -> None:
    parent = build_table_plan("users", [ColumnInfo("email", "VARCHAR(24)", primary_key=True, max_length=24)], None,
                              {"email": "email"})
    child = build_table_plan("orders", [ColumnInfo("user_email", "VARCHAR(40)", foreign_key="users.email",
                                                   max_length=40)], None, {}, parent_plans={"users": parent})
    assert child.decisions["user_email"].operator == "email" and child.limits("user_email") == ColumnLimits(24)
    value = pa.record_batch({"email": ["jo.long.name@example.com"]})
    masker = Masker(KEY)
    assert (masker.mask_batch(parent, value).column(0).to_pylist()
            == masker.mask_batch(child, value.rename_columns(["user_email"])).column(0).to_pylist())


def test_column_infos_read_length_and_labels_from_the_reflected_type() -> None:
    table = sa.Table("people", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("email", sa.String(24)), sa.Column("notes", sa.Text),
                     sa.Column("mood", sa.Enum("sad", "ok", name="mood")))
    infos = {i.name: i for i in column_infos(table, sa.create_engine("sqlite://").dialect)}
    assert infos["email"].max_length == 24 and infos["notes"].max_length is None
    assert infos["mood"].labels == ("sad", "ok") and infos["id"].labels is None


def test_array_columns_held_as_json_text_are_masked_element_by_element() -> None:
    values = ['["jo.long.name@example.com", "a@b.co"]', "[]", None, '[["x.y@z.org", null]]', "not an array"]
    limits = ColumnInfo("emails", "VARCHAR(24)[]", max_length=24).limits
    assert limits.array
    fakes = _mask("email", values, limits)
    assert fakes == _mask("email", values, limits)
    first, empty, missing, nested, broken = (json.loads(f) if f is not None else None for f in fakes)
    assert len(first) == 2 and empty == [] and missing is None and broken is None
    assert nested[0][1] is None
    assert all(EMAIL.match(f) and len(f) <= 24 for f in (*first, nested[0][0]))
    assert first[1] == _mask("email", ["a@b.co"], ColumnLimits(24))[0]  # an element's fake is the value's fake


def test_column_infos_read_the_element_length_of_an_array() -> None:
    from sqlalchemy.dialects import postgresql

    table = sa.Table("people", sa.MetaData(), sa.Column("emails", postgresql.ARRAY(sa.String(20))))
    (info,) = column_infos(table, postgresql.dialect())
    assert info.max_length == 20 and info.limits.array


def test_json_columns_under_a_whole_value_operator_stay_json() -> None:
    values = ['"just a string"', '{"who": "Jo Smith", "n": 2, "tags": ["Li Wu"]}', "null", "3", "not json"]
    limits = ColumnInfo("doc", "JSONB").limits
    fakes = _mask("person_name", values, limits)
    scalar, document, null, number, broken = fakes
    assert isinstance(json.loads(scalar), str) and json.loads(scalar) != "just a string"
    parsed = json.loads(document)
    assert parsed["n"] == 2 and set(parsed) == {"who", "n", "tags"} and parsed["who"] != "Jo Smith"
    assert null == "null" and number == "3" and broken is None


def test_json_pii_documents_too_long_for_their_column_become_empty_documents() -> None:
    from hfit_dagster.masking.operators.registry import get_operator

    fakes = pa.array(['{"email": "a.long.fake@example.com"}', '["x"]', '"s"'])
    assert get_operator("json_pii").shorten(fakes, 4).to_pylist() == ["{}", "[]", '""']


@pytest.mark.parametrize("max_length", [40, 30, 25, 24, 18, 13])
def test_shortened_emails_are_the_documented_construction(max_length: int) -> None:
    unlimited = _mask("email", EMAILS[:500])
    for full, fake in zip(unlimited, _mask("email", EMAILS[:500], ColumnLimits(max_length)), strict=True):
        if len(full) <= max_length:
            assert fake == full
            continue
        local, domain = full.rsplit("@", 1)
        names, suffix = local.rsplit(".", 1)
        budget = max_length - 1 - len(domain)
        prefix = names[: max(budget - 13, 0)].rstrip(".-_")
        expected = suffix[:budget] if budget <= 12 else (f"{prefix}.{suffix}" if prefix else suffix)
        assert fake == f"{expected}@{domain}"


def test_free_text_naming_its_row_is_cut_to_its_column(analyzer, key: bytes) -> None:
    from hfit_dagster.masking import ColumnDecision, TableMaskingPlan, TextRedactor

    ops = {"name": "person_name", "note": "redact_text"}
    plan = TableMaskingPlan("customers", {c: ColumnDecision(c, op, None, 1.0, "test", "rule") for c, op in ops.items()},
                            columns={"note": ColumnInfo("note", "VARCHAR(30)", max_length=30)})
    batch = pa.RecordBatch.from_pydict({"name": ["Lilly Preiss"],
                                        "note": ["Called Lilly Preiss about it, write to lp@web.de"]})
    note = Masker(key, text_redactor=TextRedactor(analyzer, key)).mask_batch(plan, batch).column("note")[0].as_py()
    assert len(note) <= 30 and "Preiss" not in note


def test_binary_hashes_are_cut_to_the_column_bytes() -> None:
    fakes = _mask("hash", [b"secret one", b"secret two"], ColumnLimits(8), pa.binary())
    assert all(len(f) == 8 for f in fakes) and fakes[0] != fakes[1]
    assert fakes == [f[:8] for f in _mask("hash", [b"secret one", b"secret two"], type_=pa.binary())]


def test_column_infos_read_binary_lengths_and_set_labels() -> None:
    from sqlalchemy.dialects import mysql

    table = sa.Table("t", sa.MetaData(), sa.Column("b", mysql.VARBINARY(8)), sa.Column("s", mysql.SET("a", "b")),
                     sa.Column("e", mysql.ENUM("x", "y")))
    infos = {i.name: i for i in column_infos(table, mysql.dialect())}
    assert infos["b"].max_length == 8 and infos["s"].labels == ("a", "b") and infos["e"].labels == ("x", "y")


def test_an_array_column_under_json_pii_is_walked_as_one_document(analyzer, key: bytes) -> None:
    from hfit_dagster.masking import TextRedactor

    values = pa.array(['["jo.long.name@example.com", "mary.jones@gmail.com"]', "[]"])
    limits = ColumnInfo("emails", "TEXT[]").limits
    masked = Masker(key, text_redactor=TextRedactor(analyzer, key)).mask_array(
        "json_pii", values, table="t", column="emails", limits=limits).to_pylist()
    first = json.loads(masked[0])
    assert isinstance(first, list) and len(first) == 2 and "mary.jones@gmail.com" not in first
    assert json.loads(masked[1]) == []


def test_an_email_rule_on_a_column_too_short_for_any_address_is_refused_when_planning() -> None:
    with pytest.raises(MaskingError, match="12 characters"):
        build_table_plan("t", [ColumnInfo("mail", "VARCHAR(12)", max_length=12)], None, {"mail": "email"})
    build_table_plan("t", [ColumnInfo("mail", "VARCHAR(13)", max_length=13)], None, {"mail": "email"})


PG_SETUP = """
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy', 'Jane Doe');
CREATE TABLE people (id int PRIMARY KEY, ip inet, client_ip cidr, mac macaddr, mo mood, during tstzrange,
  emails varchar(24)[], contact_phone varchar(20), email varchar(24), username varchar(16), doc jsonb);
INSERT INTO people VALUES
 (1, '10.0.0.1/8', '192.168.0.0/16', '08:00:2b:01:02:03', 'Jane Doe', '[2024-01-01 10:00+00,2024-01-02 10:00+00)',
  '{"jo.long.name@example.com","a@b.co"}', '+44 20 7946 0958', 'jo.long.name@example.com', 'jo_longusername1',
  '"Jo Ann Smith"'),
 (2, '::1', '::/0', '00:00:00:00:00:00', 'sad', 'empty', '{}', '+1 415 555 0100', 'a@b.co', 'x', '{"who": "Li Wu"}'),
 (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
"""
PG_TEMPLATE = """
templateName: fit-columns-postgres
exports:
  people: {provider: SRC, query: 'SELECT * FROM people ORDER BY id'}
masking:
  people.ip: ip_address
  people.client_ip: ip_address
  people.mac: shape
  people.mo: person_name
  people.emails: email
  people.username: hash
  people.doc: person_name
"""


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.mariadb
@pytest.mark.parametrize("target", ["mysql", "postgresql", "sqlite"])
def test_masked_postgresql_types_load_in_every_dialect(target: str, postgres_database, mariadb_database, tmp_path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """inet, cidr, macaddr, an enum, a range, an array, jsonb, a phone and short VARCHARs, masked and loaded with
    the stock client of each dialect; each masked value valid for its column."""
    from hfit_dagster.pipeline.local_build import build_package
    from hfit_dagster.settings import load_settings
    from hfit_dagster.template.loader import parse_template
    from tests.conftest import TEST_MASKING_KEY
    from tests.fidelity.engines import read_rows, run_script, url

    source = postgres_database()
    assert run_script("postgresql", source, PG_SETUP).returncode == 0
    monkeypatch.setenv("HFIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HFIT_MASKING_KEY", TEST_MASKING_KEY)
    monkeypatch.setenv("HFIT_PROVIDER_SRC_URL", url("postgresql", source))
    built = build_package(parse_template(PG_TEMPLATE), {}, load_settings(), dialect=target)
    databases = {"mysql": mariadb_database, "postgresql": postgres_database}
    database = databases[target]() if target in databases else str(tmp_path / "target.db")
    done = run_script(target, database, built.path / "package.sql")
    assert done.returncode == 0, done.stderr.decode()[-600:]
    columns = ["id", "ip", "client_ip", "mac", "mo", "emails", "contact_phone", "email", "username", "doc"]
    rows = read_rows(target, database, "people", columns, "id", frozenset())
    (_, ip1, cidr1, mac1, mo1, emails1, phone1, email1, user1, doc1), (_, ip2, cidr2, mac2, mo2, *_) = rows[:2]
    interface = ipaddress.ip_interface(ip1)
    assert interface.network.prefixlen == 8 and interface.ip != ipaddress.ip_address("10.0.0.1")
    assert ipaddress.ip_network(cidr1).prefixlen == 16 and ipaddress.ip_address(ip2).version == 6
    assert ipaddress.ip_network(cidr2) == ipaddress.ip_network("::/0")
    assert MAC.match(mac1) and MAC.match(mac2) and mac1 != "08:00:2b:01:02:03"
    # the personal label is faked in the type and in the value alike; the other labels stay
    assert mo2 == "sad" and mo1 not in {"sad", "ok", "happy", "Jane Doe", "mo_4"} and len(mo1.split()) == 2
    elements = emails1 if isinstance(emails1, list) else json.loads(emails1)
    assert len(elements) == 2 and all(EMAIL.match(e) and len(e) <= 24 for e in elements)
    assert phone1.startswith("+44 ") and phone1 != "+44 20 7946 0958"
    assert EMAIL.match(email1) and len(email1) <= 24 and len(user1) <= 16
    document = doc1 if not isinstance(doc1, str) else json.loads(doc1)
    assert isinstance(document, str) and document != "Jo Ann Smith"
    assert rows[2][1:] == (None,) * (len(columns) - 1)
