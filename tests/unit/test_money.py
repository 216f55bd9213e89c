"""Money: integer minor units per ISO 4217 exponent, no floats, no silent rounding, half-up line amounts."""

from __future__ import annotations

import ast
import pathlib
from decimal import ROUND_HALF_UP, Decimal, localcontext

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal_core.errors import CurrencyMismatch, InvalidAmount, InvalidInput, UnknownCurrency
from portal_core.model.documents import Invoice, InvoiceStatus, Line, Quote, QuoteStatus
from portal_core.model.money import EXPONENTS, Money, exponent, parse_decimal, total_of

CORE = pathlib.Path(__file__).resolve().parents[2] / "src" / "portal_core"
currencies = st.sampled_from(sorted(EXPONENTS))
minor_units = st.integers(min_value=-(10**15), max_value=10**15)


@pytest.mark.parametrize(("text", "currency", "minor", "shown"), [
    ("360.00", "AED", 36000, "AED 360.00"),
    ("360", "AED", 36000, "AED 360.00"),
    ("0.05", "USD", 5, "USD 0.05"),
    ("5000", "JPY", 5000, "JPY 5000"),
    ("12.345", "KWD", 12345, "KWD 12.345"),
    ("0.001", "BHD", 1, "BHD 0.001"),
    ("-1.50", "EUR", -150, "EUR -1.50"),
    (" 7.5 ", "OMR", 7500, "OMR 7.500"),
    ("12.345", "kwd", 12345, "KWD 12.345"),
])
def test_parse_and_format_follow_the_currency_exponent(text: str, currency: str, minor: int, shown: str) -> None:
    money = Money.parse(text, currency)
    assert money == Money(minor, currency.upper())
    assert str(money) == shown


@pytest.mark.parametrize(("text", "currency"), [
    ("360.001", "AED"), ("0.5", "JPY"), ("5000.1", "JPY"), ("12.3456", "KWD"), ("0.001", "USD"),
])
def test_more_decimals_than_the_currency_has_is_refused_not_rounded(text: str, currency: str) -> None:
    with pytest.raises(InvalidAmount, match="more decimals"):
        Money.parse(text, currency)


@pytest.mark.parametrize("currency", ["XXX", "ABC", "", "US", "dollars", "EURO"])
def test_unknown_currency_is_refused(currency: str) -> None:
    with pytest.raises(UnknownCurrency, match="unknown currency"):
        Money.parse("1.00", currency)
    with pytest.raises(UnknownCurrency):
        Money(100, currency)
    with pytest.raises(UnknownCurrency):
        exponent(currency)


@pytest.mark.parametrize("value", [1.5, 0.1, float("nan"), float("inf"), None, [], b"1.00", True])
def test_floats_and_other_non_strings_are_refused_as_amounts(value: object) -> None:
    with pytest.raises(InvalidAmount):
        parse_decimal(value, what="amount")
    with pytest.raises(InvalidInput):
        Money.parse(value, "USD")  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["", "abc", "1,00", "NaN", "Infinity", "-inf", "1.2.3"])
def test_text_that_is_not_a_finite_decimal_is_refused(text: str) -> None:
    with pytest.raises(InvalidAmount):
        Money.parse(text, "USD")


def test_minor_units_must_be_an_integer() -> None:
    with pytest.raises(TypeError):
        Money(1.5, "USD")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Money(Decimal("1"), "USD")  # type: ignore[arg-type]


def test_adding_two_currencies_raises_currency_mismatch() -> None:
    with pytest.raises(CurrencyMismatch, match="AED and USD"):
        Money(100, "AED") + Money(100, "USD")
    with pytest.raises(CurrencyMismatch):
        Money(100, "AED") - Money(100, "USD")
    with pytest.raises(CurrencyMismatch):
        Money(100, "AED") < Money(100, "USD")  # noqa: B015
    with pytest.raises(CurrencyMismatch):
        total_of([Money(1, "AED"), Money(1, "USD")], "AED")


@given(a=minor_units, b=minor_units, currency=currencies, other=currencies)
@settings(max_examples=60, deadline=None)
def test_arithmetic_stays_in_one_currency(a: int, b: int, currency: str, other: str) -> None:
    x, y = Money(a, currency), Money(b, other)
    if currency == other:
        assert (x + y).minor == a + b
        assert (x - y).minor == a - b
        assert (x < y) == (a < b)
    else:
        with pytest.raises(CurrencyMismatch):
            x + y


@given(minor=minor_units, currency=currencies)
@settings(max_examples=100, deadline=None)
def test_format_then_parse_round_trips(minor: int, currency: str) -> None:
    money = Money(minor, currency)
    text = money.decimal_string()
    decimals = text.partition(".")[2]
    assert len(decimals) == EXPONENTS[currency]
    assert Money.parse(text, currency) == money


@given(minor=st.integers(min_value=-(10**18 - 1), max_value=10**18 - 1), currency=currencies)
@settings(max_examples=60, deadline=None)
def test_parse_is_exact_for_large_amounts(minor: int, currency: str) -> None:
    money = Money(minor, currency)
    assert Money.parse(money.decimal_string(), currency).minor == minor


@pytest.mark.parametrize("text", ["1e18", "-1000000000000000000", "1e30", "1e999999", "1e-999999", "0.1e-20"])
def test_amounts_beyond_any_bill_are_refused_not_overflowed(text: str) -> None:
    with pytest.raises(InvalidAmount):
        Money.parse(text, "JPY")


def test_an_amount_past_64_bits_is_refused() -> None:
    assert Money(2**63 - 1, "KWD").minor == 2**63 - 1
    with pytest.raises(InvalidAmount):
        Money(2**63, "KWD")
    with pytest.raises(InvalidAmount):
        Money(10**17, "KWD").times(Decimal(1000))


@given(units=st.integers(min_value=0, max_value=10**9), extra=st.integers(min_value=1, max_value=9),
       currency=currencies)
@settings(max_examples=60, deadline=None)
def test_any_extra_nonzero_decimal_is_refused(units: int, extra: int, currency: str) -> None:
    places = EXPONENTS[currency]
    text = f"{units}." + "0" * places + str(extra)
    with pytest.raises(InvalidAmount):
        Money.parse(text, currency)


def _half_up_oracle(unit_minor: int, quantity: Decimal) -> int:
    """An independent computation: exact product with generous precision, then half-up to an integer."""
    with localcontext() as ctx:
        ctx.prec = 200
        product = Decimal(unit_minor) * quantity
        whole = product.to_integral_value(rounding=ROUND_HALF_UP)
    return int(whole)


quantities = st.decimals(min_value=Decimal("-100000"), max_value=Decimal("100000"), places=4,
                         allow_nan=False, allow_infinity=False)
# Up to 40 significant digits, below a million: a line amount stays within 64 bits (larger ones are refused).
long_quantities = st.builds(lambda digits, scale: Decimal(digits).scaleb(-scale),
                            st.integers(min_value=0, max_value=10**40), st.integers(min_value=34, max_value=40))


@given(unit=st.integers(min_value=-(10**12), max_value=10**12), quantity=quantities, currency=currencies)
@settings(max_examples=150, deadline=None)
def test_line_amount_rounds_half_up_to_the_currency_exponent(unit: int, quantity: Decimal, currency: str) -> None:
    line = Line(description="x", quantity=quantity, unit_price=Money(unit, currency))
    assert line.amount == Money(_half_up_oracle(unit, quantity), currency)
    assert isinstance(line.amount.minor, int)


@given(unit=st.integers(min_value=0, max_value=10**12), quantity=long_quantities)
@settings(max_examples=100, deadline=None)
def test_line_amount_is_exact_for_quantities_with_many_digits(unit: int, quantity: Decimal) -> None:
    assert Money(unit, "USD").times(quantity).minor == _half_up_oracle(unit, quantity)


@pytest.mark.parametrize(("unit", "quantity", "expected"), [
    (1, "0.5", 1), (1, "1.5", 2), (1, "2.5", 3), (-1, "0.5", -1), (3, "0.5", 2), (333, "0.333", 111),
    (1, "0.49999999999999999999999999999", 0),
])
def test_half_up_examples(unit: int, quantity: str, expected: int) -> None:
    assert Money(unit, "USD").times(Decimal(quantity)).minor == expected


def test_totals_add_lines_and_tax() -> None:
    lines = (Line("Labour", Decimal("3"), Money.parse("120.00", "AED")),
             Line("Parts", Decimal("0.333"), Money.parse("10.00", "AED")))
    invoice = Invoice(id="i", company_id="c", number="INV-1", status=InvoiceStatus.SENT, currency="AED",
                      issued_date=None, due_date=None, lines=lines, tax=Money.parse("18.17", "AED"),
                      amount_paid=Money.parse("100.00", "AED"))
    assert str(invoice.total) == "AED 381.50"  # 360.00 + 3.33 + 18.17
    assert str(invoice.outstanding) == "AED 281.50"


def test_a_document_in_an_unknown_currency_is_refused() -> None:
    with pytest.raises(UnknownCurrency):
        Quote(id="q", company_id="c", number="Q-1", status=QuoteStatus.SENT, currency="XXX", issued_date=None,
              valid_until=None)


def test_a_document_cannot_mix_currencies() -> None:
    with pytest.raises(InvalidInput, match="AED"):
        Invoice(id="i", company_id="c", number="INV-1", status=InvoiceStatus.SENT, currency="AED", issued_date=None,
                due_date=None, tax=Money(0, "USD"), amount_paid=Money(0, "AED"))


def test_no_float_anywhere_in_the_core() -> None:
    """No float literal or float() call in portal_core: money and quantities are int and Decimal.

    `float` may only be named to refuse it (an isinstance check) or in a sort key's annotation (timestamps).
    """
    offenders = []
    for path in sorted(CORE.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        allowed = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "isinstance":
                allowed.update(id(n) for arg in node.args[1:] for n in ast.walk(arg))
            if isinstance(node, ast.FunctionDef) and node.returns is not None:
                allowed.update(id(n) for n in ast.walk(node.returns))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, float):
                offenders.append(f"{path.name}:{node.lineno} float literal")
            elif isinstance(node, ast.Name) and node.id == "float" and id(node) not in allowed:
                offenders.append(f"{path.name}:{node.lineno} float")
            elif isinstance(node, ast.Constant) and node.value == "float" and id(node) not in allowed:
                offenders.append(f"{path.name}:{node.lineno} float annotation")
    assert CORE.is_dir()
    assert offenders == []
