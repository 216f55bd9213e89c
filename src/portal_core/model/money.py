"""Money as integer minor units of an ISO 4217 currency, with the currency's own exponent."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation

import attrs

from portal_core.errors import CurrencyMismatch, InvalidAmount, UnknownCurrency

# ISO 4217 minor-unit exponents. Currencies not listed here are refused rather than guessed.
EXPONENTS: dict[str, int] = {
    # three decimals
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
    # no decimals
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0, "RWF": 0,
    "UGX": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
    # two decimals
    "AED": 2, "AUD": 2, "BRL": 2, "CAD": 2, "CHF": 2, "CNY": 2, "CZK": 2, "DKK": 2, "EGP": 2, "EUR": 2,
    "GBP": 2, "HKD": 2, "HUF": 2, "INR": 2, "MAD": 2, "MXN": 2, "NOK": 2, "NZD": 2, "PKR": 2, "PLN": 2, "QAR": 2,
    "SAR": 2, "SEK": 2, "SGD": 2, "TRY": 2, "TWD": 2, "USD": 2, "ZAR": 2,
}


def _currency_code(value: str) -> str:
    if type(value) is str and value in EXPONENTS:  # already a code (nearly every call: each Money made by arithmetic)
        return value
    code = str(value).strip().upper()
    if code not in EXPONENTS:
        raise UnknownCurrency(f"unknown currency {value!r} (expected an ISO 4217 code such as AED, USD or KWD)")
    return code


def exponent(currency: str) -> int:
    return EXPONENTS[_currency_code(currency)]


# The default context keeps 28 significant digits and rounds beyond them, which would round a long amount or
# product silently (and twice); this one is exact for any amount a person could type.
_EXACT = Context(prec=1000)


LARGEST_MINOR = 2**63 - 1
DIGITS_LIMIT = 18  # a typed amount or quantity has fewer digits than this either side of the point


def round_half_up(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP, context=_EXACT))


@attrs.frozen(order=False)
class Money:
    """An amount in minor units (fils, cents, yen) of one currency."""

    minor: int = attrs.field(validator=attrs.validators.instance_of(int))
    currency: str = attrs.field(converter=_currency_code)

    def __attrs_post_init__(self) -> None:
        if not -LARGEST_MINOR <= self.minor <= LARGEST_MINOR:  # what a 64-bit column holds, and far beyond any bill
            raise InvalidAmount(f"{self.currency} amount is too large")

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    @classmethod
    def parse(cls, text: str, currency: str) -> Money:
        """'360.00' AED -> 36000 fils. More decimals than the currency has is an error, never a rounding."""
        code = _currency_code(currency)
        decimal = parse_decimal(text, what="amount")
        scaled = decimal.scaleb(EXPONENTS[code], context=_EXACT)
        if scaled != scaled.to_integral_value(context=_EXACT):
            raise InvalidAmount(f"amount {text!r} has more decimals than {code} allows ({EXPONENTS[code]})")
        return cls(int(scaled), code)

    def _same(self, other: Money) -> None:
        if self.currency != other.currency:
            raise CurrencyMismatch(f"cannot combine {self.currency} and {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor - other.minor, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.minor < other.minor

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.minor <= other.minor

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.minor > other.minor

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.minor >= other.minor

    def times(self, quantity: Decimal) -> Money:
        """The amount of a line: quantity x unit price, rounded half-up to the currency's exponent."""
        return Money(round_half_up(_EXACT.multiply(Decimal(self.minor), quantity)), self.currency)

    @property
    def is_positive(self) -> bool:
        return self.minor > 0

    def decimal_string(self) -> str:
        """'360.00' for AED 36000 fils, '5000' for JPY 5000, '12.345' for KWD 12345 fils."""
        exp = EXPONENTS[self.currency]
        sign = "-" if self.minor < 0 else ""
        units, minor = divmod(abs(self.minor), 10**exp) if exp else (abs(self.minor), 0)
        return f"{sign}{units}.{minor:0{exp}d}" if exp else f"{sign}{units}"

    def __str__(self) -> str:
        return f"{self.currency} {self.decimal_string()}"

    def grouped_text(self) -> str:
        """'AED 1,620.00', 'JPY 5,000', 'KWD -12.345': the ISO code first, thousands grouped, the currency's own
        decimals (how the English pages and the PDFs print an amount)."""
        exp = EXPONENTS[self.currency]
        units, minor = divmod(abs(self.minor), 10**exp) if exp else (abs(self.minor), 0)
        sign = "-" if self.minor < 0 else ""
        return f"{self.currency} {sign}{units:,}" + (f".{minor:0{exp}d}" if exp else "")


def parse_decimal(text: object, *, what: str) -> Decimal:
    if isinstance(text, float) or not isinstance(text, str | int):
        raise InvalidAmount(f"{what} must be a decimal string such as \"12.50\", not {text!r}")
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation:
        raise InvalidAmount(f"{what} {text!r} is not a decimal number") from None
    if not value.is_finite():
        raise InvalidAmount(f"{what} {text!r} is not a finite number")
    if value and not -DIGITS_LIMIT <= value.adjusted() < DIGITS_LIMIT:
        raise InvalidAmount(f"{what} {text!r} is too large or too small")
    return value


def quantity_text(value: Decimal) -> str:
    """A quantity as a person writes it, without trailing zeros: 3, 1.5 (parse_decimal reads it back)."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def total_of(amounts: list[Money], currency: str) -> Money:
    total = Money.zero(currency)
    for amount in amounts:
        total = total + amount
    return total
