"""Operators and the Masker: deterministic, keyed, vectorized, format-preserving, NULL-safe."""

from __future__ import annotations

import datetime as dt
import re
import time
from typing import ClassVar

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from hfit_dagster.errors import MaskingError
from hfit_dagster.masking import OPERATORS, ColumnDecision, Masker, TableMaskingPlan
from hfit_dagster.masking.operators.base import StringOperator
from hfit_dagster.masking.operators.dates import DOB_MAX_SHIFT_DAYS, DateOfBirthOperator
from hfit_dagster.masking.operators.emails import EMAIL_DOMAINS
from hfit_dagster.masking.operators.payment import iban_valid, luhn_valid
from hfit_dagster.masking.operators.pools import pool_arrays

EMAIL_RE = re.compile(r"^[a-z]+\.[a-z]+\.[0-9a-f]{12}@example\.(com|net|org)$")


def _plan(table: str, **ops: str) -> TableMaskingPlan:
    return TableMaskingPlan(
        table, {c: ColumnDecision(c, op, None, 1.0, "test", "rule") for c, op in ops.items()}
    )


def test_same_email_gets_same_fake_in_every_table_and_run(key: bytes, other_key: bytes) -> None:
    """Joins on masked values keep working: customers.email and orders.contact_email that held the same
    address hold the same fake, in this run and the next; another key gives other fakes."""
    customers = pa.record_batch({"id": [1, 2], "email": ["maria.lopez@shop.test", "john@x.test"]})
    orders = pa.record_batch(
        {"id": [7, 8, 9], "contact_email": ["john@x.test", None, "maria.lopez@shop.test"]}
    )

    masked_c = Masker(key).mask_batch(_plan("customers", id="keep", email="email"), customers)
    masked_o = Masker(key).mask_batch(_plan("orders", id="keep", contact_email="email"), orders)
    c = masked_c.column("email").to_pylist()
    o = masked_o.column("contact_email").to_pylist()
    assert o == [c[1], None, c[0]]
    assert "maria.lopez@shop.test" not in c

    again = Masker(key).mask_array("email", customers.column("email"))
    assert again.to_pylist() == c
    other = Masker(other_key).mask_array("email", customers.column("email")).to_pylist()
    assert set(other).isdisjoint(c)


@pytest.mark.parametrize(
    ("operator", "values"),
    [
        ("email", pa.array(["a@b.test", None, "a@b.test", ""], pa.string())),
        ("email", pa.array(["a@b.test", None], pa.large_string())),
        ("phone", pa.array(["+1 555 010 2233", None], pa.string())),
        ("phone", pa.array([4930123456, None], pa.int64())),
        ("person_name", pa.array(["Maria Lopez", None])),
        ("first_name", pa.array(["Maria", None])),
        ("last_name", pa.array(["Lopez", None])),
        ("street_address", pa.array(["1 Main St", None])),
        ("city", pa.array(["Berlin", None])),
        ("postal_code", pa.array(["SW1A 1AA", None])),
        ("postal_code", pa.array([10115, None], pa.int32())),
        ("credit_card", pa.array(["4111 1111 1111 1111", None])),
        ("iban", pa.array(["DE89 3704 0044 0532 0130 00", None])),
        ("ip_address", pa.array(["192.168.1.20", None])),
        ("national_id", pa.array(["123-45-6789", None])),
        ("date_of_birth", pa.array([dt.date(1985, 3, 14), None], pa.date32())),
        ("date_of_birth", pa.array([dt.datetime(1985, 3, 14, 9, 30), None], pa.timestamp("us"))),
        ("date_of_birth", pa.array([dt.datetime(1985, 3, 14, 9, 30), None], pa.timestamp("ms", tz="UTC"))),
        ("date_of_birth", pa.array(["1985-03-14", None])),
        ("hash", pa.array(["secret", None])),
        ("hash", pa.array([42, None], pa.int32())),
        ("fixed", pa.array(["x", None])),
        ("fixed", pa.array([1.5, None], pa.float64())),
        ("null", pa.array(["x", None])),
        ("keep", pa.array(["x", None])),
    ],
)
def test_nulls_stay_null_and_types_are_preserved(key: bytes, operator: str, values: pa.Array) -> None:
    """A masked column still loads into its DDL: same Arrow type, same length, NULL where NULL was."""
    out = Masker(key).mask_array(operator, values)
    assert out.type == values.type
    assert len(out) == len(values)
    assert pc.is_null(out).to_pylist()[1] is True
    if operator not in ("null", "keep", "fixed"):
        assert out[0] != values[0]


def test_dictionary_and_chunked_columns_are_masked_in_place(key: bytes) -> None:
    """Parquet readers hand us dictionary and chunked arrays; they are masked without changing type."""
    masker = Masker(key)
    plain = masker.mask_array("email", pa.array(["a@b.test", "c@d.test", None, "a@b.test"]))
    dictionary = masker.mask_array(
        "email", pa.array(["a@b.test", "c@d.test", None, "a@b.test"]).dictionary_encode()
    )
    assert pa.types.is_dictionary(dictionary.type)
    assert dictionary.cast(pa.string()).to_pylist() == plain.to_pylist()
    chunked = masker.mask_array("email", pa.chunked_array([["a@b.test"], ["c@d.test", None, "a@b.test"]]))
    assert chunked.to_pylist() == plain.to_pylist()


def test_email_100k_distinct_inputs_give_100k_distinct_valid_addresses(key: bytes) -> None:
    """A UNIQUE email column stays unique after masking and every value is a valid address on a reserved
    domain (nothing can ever be mailed)."""
    values = pa.array([f"customer{i}.name@corp{i % 97}.test" for i in range(100_000)])
    masker = Masker(key)
    masker.mask_array("email", values[:10])  # build the name pools outside the timing
    start = time.perf_counter()
    out = masker.mask_array("email", values)
    elapsed = time.perf_counter() - start
    print(f"\nemail masking: 100000 distinct cells in {elapsed:.3f}s = {100_000 / elapsed:,.0f} cells/s")
    assert len(pc.unique(out)) == 100_000
    assert all(EMAIL_RE.match(v) for v in out.to_pylist())
    assert {v.rsplit("@", 1)[1] for v in out.to_pylist()} <= set(EMAIL_DOMAINS)


def test_each_distinct_value_is_masked_once(key: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    """Masking stays fast on real tables with many repeats: the operator sees each distinct value once."""

    class CountingOperator(StringOperator):
        name = "counting"
        seen: ClassVar[list[str]] = []

        def fake(self, value: str, key: bytes) -> str:
            self.seen.append(value)
            return value.upper()

    monkeypatch.setitem(OPERATORS, "counting", CountingOperator())
    values = pa.array(["a", "b", None, "c"] * 250_000)
    out = Masker(key).mask_array("counting", values)
    assert sorted(CountingOperator.seen) == ["a", "b", "c"]
    assert out.null_count == 250_000
    assert out[:4].to_pylist() == ["A", "B", None, "C"]


def test_phone_keeps_format_and_digit_count(key: bytes) -> None:
    """Apps that validate phone formats still accept masked phones: '+', spaces, dashes and parentheses stay,
    every digit changes position-for-position, and distinct numbers stay distinct."""
    phones = ["+1 555 010 2233", "(212) 555-0199", "+44 20 7946 0958", "030/1234567", "0049-30-1234-5678"]
    out = Masker(key).mask_array("phone", pa.array(phones)).to_pylist()
    for original, masked in zip(phones, out, strict=True):
        assert re.sub(r"\d", "9", original) == re.sub(r"\d", "9", masked)
        assert masked != original
    many = pa.array([f"+49 30 {i:07d}" for i in range(20_000)])
    assert len(pc.unique(Masker(key).mask_array("phone", many))) == 20_000


def test_credit_cards_are_luhn_valid_test_numbers_of_the_same_length(key: bytes) -> None:
    """Checkout code that validates cards accepts masked ones; they sit on a test BIN, never a real one."""
    cards = ["4111 1111 1111 1111", "5500-0000-0000-0004", "378282246310005", "6011000990139424"]
    out = Masker(key).mask_array("credit_card", pa.array(cards)).to_pylist()
    for original, masked in zip(cards, out, strict=True):
        assert luhn_valid(masked)
        assert len(masked) == len(original)
        assert re.sub(r"\d", "9", original) == re.sub(r"\d", "9", masked)
        assert re.sub(r"\D", "", masked).startswith("400000")


def test_iban_keeps_country_length_and_valid_checksum(key: bytes) -> None:
    """Payment forms that check IBANs accept masked ones: same country, same length, valid mod-97."""
    ibans = ["DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432", "FR1420041010050500013M02606"]
    out = Masker(key).mask_array("iban", pa.array(ibans)).to_pylist()
    for original, masked in zip(ibans, out, strict=True):
        assert iban_valid(original)
        assert iban_valid(masked), masked
        assert masked[:2] == original[:2]
        assert len(masked) == len(original)
        assert masked != original


def test_date_of_birth_shift_is_stable_bounded_and_type_independent(key: bytes) -> None:
    """Ages stay realistic and consistent: one birth date shifts by the same non-zero offset (≤180 days)
    whether stored as DATE, DATETIME or text, in every run."""
    born = dt.date(1985, 3, 14)
    masker = Masker(key)
    as_date = masker.mask_array("date_of_birth", pa.array([born], pa.date32()))[0].as_py()
    as_ts = masker.mask_array("date_of_birth", pa.array([dt.datetime(1985, 3, 14, 8, 0)]))[0].as_py()
    as_text = masker.mask_array("date_of_birth", pa.array(["1985-03-14"]))[0].as_py()
    assert as_date != born
    assert abs((as_date - born).days) <= DOB_MAX_SHIFT_DAYS
    assert as_ts == dt.datetime.combine(as_date, dt.time(8, 0))
    assert as_text == as_date.isoformat()
    assert masker.mask_array("date_of_birth", pa.array([born]))[0].as_py() == as_date
    shifts = {DateOfBirthOperator().offset_days(born + dt.timedelta(days=i), key) for i in range(2000)}
    assert 0 not in shifts
    assert max(shifts) <= DOB_MAX_SHIFT_DAYS
    assert min(shifts) >= -DOB_MAX_SHIFT_DAYS
    assert len(shifts) > 300


def test_shape_preserving_operators(key: bytes) -> None:
    """Postal codes, national ids and IPs keep the form validators expect (digits/letters/dots in place)."""
    masker = Masker(key)
    for op, values in {
        "postal_code": ["SW1A 1AA", "10115", "90210-1234"],
        "national_id": ["123-45-6789", "AB123456C"],
    }.items():
        for original, masked in zip(values, masker.mask_array(op, pa.array(values)).to_pylist(), strict=True):
            shape = str.maketrans("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", "9" * 10 + "A" * 26)
            assert original.upper().translate(shape) == masked.upper().translate(shape)
            assert masked != original
    ips = masker.mask_array("ip_address", pa.array(["192.168.1.20", "2001:db8:85a3::8a2e:370:7334"]))
    v4, v6 = ips.to_pylist()
    assert v4.startswith("10.") and v4 != "192.168.1.20"
    assert v6.startswith("2001:db8:")


def test_hash_fixed_null_and_names(key: bytes) -> None:
    """Secrets can be hashed (32 hex), fixed or nulled; names are realistic and follow the input's case."""
    masker = Masker(key, fixed_values={"users.api_key": "XXXX"})
    assert re.fullmatch(r"[0-9a-f]{32}", masker.mask_array("hash", pa.array(["pw"]))[0].as_py())
    assert masker.mask_array("fixed", pa.array(["a", "b"]), table="users", column="api_key").to_pylist() == [
        "XXXX",
        "XXXX",
    ]
    assert masker.mask_array("fixed", pa.array(["a"])).to_pylist() == ["REDACTED"]
    assert masker.mask_array("null", pa.array(["a"])).to_pylist() == [None]
    upper, title = masker.mask_array("person_name", pa.array(["MARIA LOPEZ", "Maria Lopez"])).to_pylist()
    assert upper.isupper() and " " in upper
    assert title != "Maria Lopez" and title.istitle()


def test_unknown_operator_lists_the_known_ones(key: bytes) -> None:
    """A typo in a template's operator name fails with the list of valid names."""
    with pytest.raises(MaskingError) as err:
        Masker(key).mask_array("emial", pa.array(["a"]))
    assert "emial" in err.value.message
    assert "email" in (err.value.hint or "")
    assert "redact_text" in (err.value.hint or "")


def test_mask_batch_refuses_unplanned_columns_and_names_the_column_not_the_value(key: bytes) -> None:
    """Deny by default at run time: a column the plan does not cover (schema drift) stops the build, and
    error messages carry column names, never data values."""
    batch = pa.record_batch({"id": [1], "email": ["maria.lopez@shop.test"], "new_col": ["secret value"]})
    with pytest.raises(MaskingError, match="new_col"):
        Masker(key).mask_batch(_plan("customers", id="keep", email="email"), batch)
    with pytest.raises(MaskingError) as err:
        Masker(key).mask_batch(_plan("customers", id="email", email="keep", new_col="keep"), batch)
    assert "customers.id" in str(err.value)
    assert "maria" not in str(err.value)


def test_integer_columns_stay_in_range(key: bytes) -> None:
    """A phone or zip stored as INTEGER is masked as digits and still fits its integer type."""
    values = pa.array([2147483647, 1999999999, 12345, None], pa.int32())
    out = Masker(key).mask_array("phone", values)
    assert out.type == pa.int32() and out.null_count == 1
    assert out.to_pylist()[:3] != values.to_pylist()[:3]


def test_short_key_is_refused() -> None:
    """A weak masking secret is a configuration error, not a silent weakness."""
    with pytest.raises(MaskingError, match="16 bytes"):
        Masker(b"short")


def test_redact_text_without_a_redactor_is_a_clear_error(key: bytes) -> None:
    """A redact_text rule without Presidio configured fails with how to fix it instead of leaking text."""
    with pytest.raises(MaskingError) as err:
        Masker(key).mask_array("redact_text", pa.array(["Call Maria"]), column="notes")
    assert "TextRedactor" in (err.value.hint or "")


def test_the_shipped_fake_pools_are_the_seeded_faker_pools() -> None:
    """fake_pools.json holds what the seeded Faker draws: every name, city and street fake depends on it.

    If this fails after a Faker upgrade, the file still keeps fakes stable; regenerate it (operators.
    write_fake_pools) only when changing every such fake in new packages is intended.
    """
    from hfit_dagster.masking.operators.pools import fake_pools, generate_fake_pools

    shipped, drawn = fake_pools(), generate_fake_pools()
    assert shipped == drawn
    assert len(shipped.first_names) > 400 and len(shipped.streets) == 1500


def test_a_conversion_error_never_carries_the_value_it_failed_on(key: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    """Arrow's conversion errors quote the value ("Failed to parse string: '078-05-1120'"); the masker's error
    names the table, column and operator and the error's class, and has no cause or context holding the value."""

    class FailingOperator(StringOperator):
        name = "failing"

        def fake(self, value: str, key: bytes) -> str:
            return pa.array([value]).cast(pa.int64()).to_pylist()[0]  # ArrowInvalid quoting the value

    monkeypatch.setitem(OPERATORS, "failing", FailingOperator())
    plan = TableMaskingPlan("people", {"ssn": ColumnDecision("ssn", "failing", None, 1.0, "template rule", "rule")})
    with pytest.raises(MaskingError) as failure:
        Masker(key).mask_batch(plan, pa.record_batch({"ssn": pa.array(["078-05-1120"])}))
    error = failure.value
    assert "people.ssn" in str(error) and "ArrowInvalid" in str(error)
    assert "078-05-1120" not in str(error)
    assert error.__cause__ is None and error.__context__ is None


def test_free_text_masked_with_its_row_never_quotes_a_value_in_an_error(key: bytes,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The free-text path that knows the row's own values fails like the column path: table, column, operator and
    error class, no value, no cause."""
    masker = Masker(key)

    def failing(*_args: object) -> pa.Array:
        raise ValueError("invalid literal for int() with base 10: '078-05-1120'")

    monkeypatch.setattr(masker, "_mask_text_in_context", failing)
    plan = TableMaskingPlan("people", {
        "email": ColumnDecision("email", "email", None, 1.0, "template rule", "rule"),
        "notes": ColumnDecision("notes", "redact_text", None, 1.0, "template rule", "rule"),
    })
    batch = pa.record_batch({"email": ["a@b.example"], "notes": ["SSN 078-05-1120, mail a@b.example"]})
    with pytest.raises(MaskingError) as failure:
        masker.mask_batch(plan, batch)
    assert "people.notes" in str(failure.value) and "078-05-1120" not in str(failure.value)
    assert failure.value.__cause__ is None and failure.value.__context__ is None


def test_names_are_faked_word_by_word_and_never_as_themselves(key: bytes) -> None:
    """One person's name fakes agree wherever the name stands (a first-name column in any case, a full name, the
    words of an email built from it), and no name is its own fake: every name of the pools (the common names a
    source holds) is tried."""
    first_names, last_names = pool_arrays()["first_names"], pool_arrays()["last_names"]
    first, last = OPERATORS["first_name"], OPERATORS["last_name"]
    fake_first, fake_last = first.fake_many(first_names, key), last.fake_many(last_names, key)
    assert not pc.any(pc.equal(pc.utf8_lower(fake_first), pc.utf8_lower(first_names))).as_py()
    assert not pc.any(pc.equal(pc.utf8_lower(fake_last), pc.utf8_lower(last_names))).as_py()
    assert first.fake("JANE", key) == first.fake("jane ", key).upper() == first.fake("Jane", key).upper()
    full = OPERATORS["person_name"].fake("Jane Doe", key)
    assert full == f"{first.fake('Jane', key)} {last.fake('Doe', key)}"
    email = OPERATORS["email"].fake("Jane.Doe+news@mail.example", key)
    assert email.split(".")[:2] == [re.sub(r"[^a-z]", "", part) for part in full.lower().split()]
