"""Online payments: one attempt to pay an invoice through a provider, the provider connections, and outcomes."""

from __future__ import annotations

import datetime as dt
import enum

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


@attrs.define(kw_only=True)
class Payment:
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

    @classmethod
    def start(cls, *, id: str, invoice_id: str, company_id: str, contact_id: str | None, provider: Provider,
              amount: Money, attempt_key: str, now: dt.datetime, lifetime: dt.timedelta) -> Payment:
        return cls(id=id, invoice_id=invoice_id, company_id=company_id, contact_id=contact_id, provider=provider,
                   amount=amount, status=PaymentStatus.PENDING, attempt_key=attempt_key, created_at=now,
                   expires_at=now + lifetime)

    def reusable_for(self, provider: Provider, amount: Money, now: dt.datetime, margin: dt.timedelta) -> bool:
        """An open hosted page for this very payment, with at least `margin` left to pay on it."""
        return (self.status == PaymentStatus.PENDING and self.provider == provider and self.amount == amount
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
