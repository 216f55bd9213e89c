"""The pages print amounts without asking Babel to parse a pattern per amount (issue 14); what they print must be
exactly what Babel prints with the portal's patterns, for every currency, sign and size."""

from __future__ import annotations

from decimal import Decimal

from babel import Locale
from babel.numbers import format_currency
from flask import Flask, g
from hypothesis import given
from hypothesis import strategies as st

from entrypoints.web.i18n import format_money
from portal_core.model.money import EXPONENTS, Money, exponent

currencies = st.sampled_from(sorted(EXPONENTS))
minor_units = st.integers(min_value=-(10**15), max_value=10**15)
_app = Flask(__name__)


def _babel(value: Money, language: str) -> str:
    """What format_money printed before issue 14: a pattern built and parsed by Babel for each amount."""
    digits = exponent(value.currency)
    decimals = "0" + ("." + "0" * digits if digits else "")
    if language == "en":
        pattern = f"¤¤ #,##{decimals};¤¤ -#,##{decimals}"
    else:
        pattern = Locale.parse(language).currency_formats["standard"].pattern.replace("0.00", decimals)
    return str(format_currency(Decimal(value.minor).scaleb(-digits), value.currency, format=pattern, locale=language,
                               currency_digits=False))


@given(minor=minor_units, currency=currencies, language=st.sampled_from(["en", "ar"]))
def test_each_amount_reads_as_babel_writes_it(minor: int, currency: str, language: str) -> None:
    value = Money(minor, currency)
    with _app.test_request_context():
        g.language = language
        assert format_money(value) == _babel(value, language)


def test_the_english_form_puts_the_code_first_and_groups_thousands() -> None:
    assert Money(162000, "AED").grouped_text() == "AED 1,620.00"
    assert Money(-12345, "KWD").grouped_text() == "KWD -12.345"
    assert Money(5000000, "JPY").grouped_text() == "JPY 5,000,000"
