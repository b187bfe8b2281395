"""Numbers and dates as people write them (leadgen.model.numbers, leadgen.model.dates): the one
parser build and serving share. Values are checked, not just that they parse: a value with two
readings is read only with a decided decimal mark or day order, never guessed.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadgen.model.dates import DateFormat, DateProblem, date_readings, days_before, parse_date
from leadgen.model.fields import FieldFormats, date_field, number_field
from leadgen.model.numbers import NumberProblem, parse_number, readings

NNBSP = "\u202f"


def at(*parts: int) -> float:
    return datetime(*parts, tzinfo=UTC).timestamp()  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1,234.5", 1234.5),
        ("1.234,5", 1234.5),
        ("1 234,5", 1234.5),
        ("1\u00a0234,5", 1234.5),  # no-break space (Excel in France)
        ("1\u202f234,5", 1234.5),  # narrow no-break space
        ("1'234.5", 1234.5),  # Switzerland
        ("EUR 1.234,50", 1234.5),
        ("1.234,50 €", 1234.5),
        ("USD 12", 12.0),
        ("$3,400.00", 3400.0),
        ("12%", 0.12),  # a percent is its fraction, as an Excel percent cell holds it
        ("12,5 %", 0.125),
        ("-12", -12.0),
        ("\u221212", -12.0),  # the minus sign
        ("(12)", -12.0),  # accounting
        ("12-", -12.0),
        ("0,33", 0.33),
        ("1.234.567", 1234567.0),
        ("0.125", 0.125),  # a thousands group never follows a lone 0
        ("1.5e3", 1500.0),
    ],
)
def test_a_number_with_one_reading_is_read_whatever_the_column_decided(
    text: str, value: float
) -> None:
    for mark in (".", ",", None):
        assert parse_number(text, mark) == pytest.approx(value, rel=1e-12)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "point", "comma"), [("6.787", 6.787, 6787), ("1,234", 1234, 1.234)]
)
def test_an_ambiguous_number_needs_a_decided_mark(text: str, point: float, comma: float) -> None:
    assert parse_number(text, ".") == point
    assert parse_number(text, ",") == comma
    with pytest.raises(NumberProblem, match="ambiguous") as refused:
        parse_number(text, None)
    assert text not in refused.value.reason  # a value is never quoted back


@pytest.mark.parametrize(
    "text", ["n/a", "about 50", "12 kg", "1.2.3", "--12", "(12", "ABC 12", "1,23,456"]
)
def test_what_is_no_number_is_refused_and_empty_is_missing(text: str) -> None:
    with pytest.raises(NumberProblem, match="not a number"):
        parse_number(text, ".")
    assert parse_number("", ".") is None and parse_number(" \t\ufeff ", None) is None


@given(
    st.integers(min_value=0, max_value=10**9),
    st.integers(min_value=0, max_value=99),
    st.sampled_from(["en", "de", "fr", "ch"]),
)
def test_a_number_written_in_any_locale_reads_back_with_that_locales_mark(
    whole: int, cents: int, locale: str
) -> None:
    """Written by a locale's own rules, read back with the mark that locale decides: the value
    itself, never another one (property over the four common forms)."""
    group, decimal = {"en": (",", "."), "de": (".", ","), "fr": (NNBSP, ","), "ch": ("'", ".")}[
        locale
    ]
    text = f"{whole:,}".replace(",", group) + decimal + f"{cents:02d}"
    mark = "," if locale in ("de", "fr") else "."
    assert parse_number(text, mark) == pytest.approx(whole + cents / 100, rel=1e-12)
    found = readings(text)
    assert found is not None and found.under(mark) == parse_number(text, mark)  # type: ignore[arg-type]


def test_json_numbers_pass_and_booleans_do_not() -> None:
    assert number_field(5, None) == 5.0 and number_field(2.5, ",") == 2.5
    assert number_field(None, None) is None
    with pytest.raises(NumberProblem, match="boolean"):
        number_field(True, ".")


# ---- dates -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("2024-03-05", at(2024, 3, 5)),
        ("2024-03-05T10:30:00Z", at(2024, 3, 5, 10, 30)),
        ("2024-03-05 10:30:00+01:00", at(2024, 3, 5, 9, 30)),
        ("2024/03/05", at(2024, 3, 5)),
        ("05.03.2024", at(2024, 3, 5)),  # dotted: always day first
        ("5.3.24 14:05", at(2024, 3, 5, 14, 5)),
        ("25/03/2024", at(2024, 3, 25)),  # the 25 decides: day first
        ("3/25/2024 2:05 PM", at(2024, 3, 25, 14, 5)),  # the 25 decides: month first
    ],
)
def test_a_date_with_one_reading_is_read_whatever_the_column_decided(
    text: str, moment: float
) -> None:
    for order in ("dmy", "mdy", None):
        assert parse_date(text, DateFormat(order=order)) == moment  # type: ignore[arg-type]


def test_an_ambiguous_date_needs_a_decided_order() -> None:
    assert parse_date("05/03/2024", DateFormat(order="dmy")) == at(2024, 3, 5)
    assert parse_date("05/03/2024", DateFormat(order="mdy")) == at(2024, 5, 3)
    with pytest.raises(DateProblem, match="ambiguous"):
        parse_date("05/03/2024", DateFormat())
    found = date_readings("04/04/2024")
    assert found is not None and found.shape == "either"  # the same either way


def test_excel_serials_only_where_the_column_holds_them() -> None:
    assert parse_date("45356", DateFormat(serial=True)) == at(2024, 3, 5)
    assert parse_date(45356.5, DateFormat(serial=True)) == at(2024, 3, 5, 12)
    with pytest.raises(DateProblem, match="not a date"):
        parse_date("45356", DateFormat())  # a count, unless the column is known to hold serials
    with pytest.raises(DateProblem, match="not a date"):
        parse_date(45356, DateFormat())


@pytest.mark.parametrize("text", ["31.02.2024", "2024-13-01", "yesterday", "13/13/2024", "12:30"])
def test_what_is_no_date_is_refused(text: str) -> None:
    with pytest.raises(DateProblem, match="not a date"):
        parse_date(text, DateFormat(order="dmy"))


def test_a_strptime_format_is_the_only_form_read() -> None:
    fmt = DateFormat(strptime="%d %b %Y")
    assert parse_date("05 Mar 2024", fmt) == at(2024, 3, 5)
    with pytest.raises(DateProblem, match="format"):
        parse_date("2024-03-05", fmt)


def test_a_date_field_is_days_before_the_reference() -> None:
    now = at(2024, 3, 6, 12)
    assert date_field("2024-03-05", DateFormat(), now) == 1.5
    assert date_field("05.03.2023", DateFormat(), now) == pytest.approx(367.5)
    assert date_field(None, DateFormat(), now) is None and days_before(now, None) is None
    with pytest.raises(DateProblem):
        date_field(["2024-03-05"], DateFormat(), now)


def test_formats_round_trip_through_json() -> None:
    formats = FieldFormats(
        {"Employees": ",", "Score": None},
        {"Last Activity": DateFormat(order="dmy", serial=True)},
        at(2025, 6, 30),
    )
    assert FieldFormats.from_json(formats.to_json()) == formats
    assert FieldFormats.from_json(None) == FieldFormats()
    with pytest.raises(ValueError, match="decimal mark"):
        FieldFormats.from_json({"decimal": {"x": ";"}})
