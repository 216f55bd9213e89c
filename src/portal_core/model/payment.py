"""Online payments: one attempt to pay an invoice through a provider, the provider connections, and outcomes."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Sequence

import attrs

from portal_core.model.money import Money


class Provider(enum.StrEnum):
    STRIPE = "stripe"
    TELR = "telr"


class PaymentStatus(enum.StrEnum):
    PENDING = "pending"  # the client was sent to the provider; nothing is known yet
    SUCCEEDED = "succeeded"  # the provider says paid, and the amount was applied to the invoice
    FAILED = "failed"  # declined, or the attempt could not even be started
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    MISMATCH = "mismatch"  # paid, but not what we asked (amount, currency, or a void invoice): for review
    OVERPAID = "overpaid"  # paid, but applying it would take the invoice past its total: for review


CLOSED_UNPAID = frozenset({PaymentStatus.FAILED, PaymentStatus.CANCELLED, PaymentStatus.EXPIRED})
# Money was received: the payment never changes again (a duplicate or late notice is acknowledged and ignored).
MONEY_RECEIVED = frozenset({PaymentStatus.SUCCEEDED, PaymentStatus.MISMATCH, PaymentStatus.OVERPAID})
FOR_REVIEW = frozenset({PaymentStatus.MISMATCH, PaymentStatus.OVERPAID})


class OutcomeKind(enum.StrEnum):
    PAID = "paid"
    PENDING = "pending"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


_CLOSING = {OutcomeKind.FAILED: PaymentStatus.FAILED, OutcomeKind.CANCELLED: PaymentStatus.CANCELLED,
            OutcomeKind.EXPIRED: PaymentStatus.EXPIRED}


def closing_status(kind: OutcomeKind) -> PaymentStatus | None:
    return _CLOSING.get(kind)


@attrs.frozen(kw_only=True)
class Allocation:
    """What one payment credits to one invoice: its outstanding amount when the attempt was made."""

    invoice_id: str
    amount: Money


def allocations_of(pairs: Sequence[tuple[str, Money]]) -> tuple[Allocation, ...]:
    """In one canonical order (by invoice id): the same invoices in any order make the same attempt."""
    return tuple(Allocation(invoice_id=i, amount=a) for i, a in sorted(pairs, key=lambda pair: pair[0]))


@attrs.define(kw_only=True)
class Payment:
    """One attempt to pay through a provider: one invoice, or several of one company in one currency at once
    (`allocations`, each invoice's share; `invoice_id` is then the first of them, by id)."""

    id: str
    invoice_id: str
    company_id: str
    contact_id: str | None
    provider: Provider = attrs.field(converter=Provider)
    amount: Money
    status: PaymentStatus = attrs.field(converter=PaymentStatus)
    attempt_key: str  # idempotency key (Stripe) and cart id (Telr): one per attempt, never reused
    created_at: dt.datetime
    provider_ref: str | None = None  # Stripe Checkout Session id, Telr order ref
    settled_at: dt.datetime | None = None
    # What the provider reported as paid (minor units and currency code), kept when it differs from `amount`.
    received_minor: int | None = None
    received_currency: str | None = None
    note: str = ""
    checkout_url: str | None = None  # the provider's hosted page, handed to every Pay Now while the attempt is open
    expires_at: dt.datetime | None = None  # after this the hosted page is no longer handed out (Stripe closes it)
    # Each invoice's share, by invoice id; one entry (invoice_id, amount) for a payment of one invoice.
    allocations: tuple[Allocation, ...] = ()

    def __attrs_post_init__(self) -> None:
        if not self.allocations:
            self.allocations = (Allocation(invoice_id=self.invoice_id, amount=self.amount),)

    @classmethod
    def start(cls, *, id: str, company_id: str, contact_id: str | None, provider: Provider, attempt_key: str,
              now: dt.datetime, lifetime: dt.timedelta, invoice_id: str | None = None, amount: Money | None = None,
              allocations: tuple[Allocation, ...] = ()) -> Payment:
        """A new attempt at one invoice (invoice_id and amount) or at several (allocations, by invoice id)."""
        if not allocations:
            if invoice_id is None or amount is None:
                raise ValueError("a payment needs an invoice and an amount, or its allocations")
            allocations = (Allocation(invoice_id=invoice_id, amount=amount),)
        total = Money(sum(a.amount.minor for a in allocations), allocations[0].amount.currency)
        return cls(id=id, invoice_id=allocations[0].invoice_id, company_id=company_id, contact_id=contact_id,
                   provider=provider, amount=total, status=PaymentStatus.PENDING, attempt_key=attempt_key,
                   created_at=now, expires_at=now + lifetime, allocations=allocations)

    @property
    def invoice_ids(self) -> tuple[str, ...]:
        return tuple(a.invoice_id for a in self.allocations)

    def reusable_for(self, provider: Provider, amount: Money, now: dt.datetime, margin: dt.timedelta, *,
                     allocations: tuple[Allocation, ...] | None = None) -> bool:
        """An open hosted page for this very payment (the same amount and, when given, the same invoices each with
        the same share), with at least `margin` left to pay on it."""
        return (self.status == PaymentStatus.PENDING and self.provider == provider and self.amount == amount
                and (allocations is None or self.allocations == allocations)
                and self.checkout_url is not None and self.expires_at is not None
                and now + margin < self.expires_at)

    def close(self, status: PaymentStatus, now: dt.datetime, note: str = "") -> None:
        self.status = status
        self.settled_at = now
        if note:
            self.note = note


@attrs.frozen(kw_only=True)
class ProviderConnection:
    """A connected provider. The credentials are an encrypted blob only the CredentialVault can open."""

    provider: Provider = attrs.field(converter=Provider)
    sealed_credentials: str = attrs.field(repr=False)
    connected_at: dt.datetime


@attrs.frozen(kw_only=True)
class CheckoutLine:
    invoice_id: str
    invoice_number: str
    amount: Money


@attrs.frozen(kw_only=True)
class CheckoutRequest:
    """What a gateway needs to open a hosted payment page; the amount comes from the invoice, never the client."""

    payment_id: str
    attempt_key: str
    invoice_id: str
    invoice_number: str
    amount: Money
    description: str
    customer_email: str | None
    success_url: str
    cancel_url: str
    declined_url: str
    expires_at: dt.datetime | None = None  # the hosted page should close by then (where the provider allows it)
    lines: tuple[CheckoutLine, ...] = ()  # one per invoice when several are paid at once; `amount` is their sum

    @property
    def line_items(self) -> tuple[CheckoutLine, ...]:
        return self.lines or (CheckoutLine(invoice_id=self.invoice_id, invoice_number=self.invoice_number,
                                           amount=self.amount),)


@attrs.frozen(kw_only=True)
class Checkout:
    url: str
    provider_ref: str


@attrs.frozen(kw_only=True)
class PaymentOutcome:
    """What a provider says about one attempt. `paid_minor`/`paid_currency` are what it says was paid."""

    provider_ref: str
    kind: OutcomeKind
    paid_minor: int | None = None
    paid_currency: str | None = None
    payment_id: str | None = None  # our id, when the provider echoes it back (Stripe metadata)
    detail: str = ""


@attrs.frozen(kw_only=True)
class ProviderEvent:
    """A verified push notification: its id (processed once) and, when it is about a payment, the outcome."""

    event_id: str
    event_type: str
    outcome: PaymentOutcome | None


# Stripe takes three-decimal currencies only in amounts whose last digit is 0 (it charges in hundredths).
STRIPE_THREE_DECIMAL = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})
# Stripe's special cases (https://docs.stripe.com/currencies#special-cases): HUF and TWD are two-decimal in its API
# but charged in whole units only (the amount a multiple of 100). (ISK and UGX, zero-decimal here as in ISO 4217, are
# written with two decimals in Stripe's API: the Stripe adapter converts them, any amount can be charged.)
STRIPE_WHOLE_UNITS_ONLY = frozenset({"HUF", "TWD"})


def provider_accepts(provider: Provider, amount: Money) -> bool:
    """Whether the provider can charge exactly this amount. Known before any gateway is built, so the pages can
    offer only the providers that can take an invoice's outstanding amount."""
    if not amount.is_positive:
        return False
    if provider == Provider.STRIPE and amount.currency in STRIPE_THREE_DECIMAL:
        return amount.minor % 10 == 0
    if provider == Provider.STRIPE and amount.currency in STRIPE_WHOLE_UNITS_ONLY:
        return amount.minor % 100 == 0
    return True
