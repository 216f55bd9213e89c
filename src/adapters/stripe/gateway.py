"""StripePaymentGateway: the stripe SDK's StripeClient, pointed at settings.stripe_api_base."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import stripe

from portal_core.errors import InvalidInput, InvalidSignature, PaymentError
from portal_core.model.money import Money, exponent
from portal_core.model.payment import (
    Checkout,
    CheckoutRequest,
    OutcomeKind,
    PaymentOutcome,
    Provider,
    ProviderEvent,
    provider_accepts,
)

# Webhook event types that say something about a Checkout Session's payment; others are acknowledged and ignored.
_SESSION_EVENTS = {
    "checkout.session.completed", "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed", "checkout.session.expired",
}


# Zero-decimal in ISO 4217 (and here), but written with two decimals in Stripe's API for backwards compatibility
# (https://docs.stripe.com/currencies#special-cases): ISK 5 is sent as 500, and Stripe's 500 read back as ISK 5.
_TWO_DECIMALS_AT_STRIPE = frozenset({"ISK", "UGX"})


def to_stripe_amount(amount: Money) -> int:
    """The amount as Stripe's API expects it (unit_amount, amount_total)."""
    return amount.minor * 100 if amount.currency in _TWO_DECIMALS_AT_STRIPE else amount.minor


def from_stripe_amount(value: object, currency: object) -> int | None:
    """Stripe's amount as our minor units; None when it is not a whole amount we could have asked for."""
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    if str(currency or "").upper() in _TWO_DECIMALS_AT_STRIPE:
        return value // 100 if value % 100 == 0 else None
    return value


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return None


def _translate(action: str, exc: stripe.StripeError) -> PaymentError:
    if isinstance(exc, stripe.APIConnectionError):
        return PaymentError(f"Stripe could not be reached to {action}. Nothing was charged; please try again later.")
    if isinstance(exc, stripe.AuthenticationError | stripe.PermissionError):
        return PaymentError(f"Stripe refused this portal's credentials when asked to {action}. Please tell the "
                            "business; nothing was charged.")
    return PaymentError(f"Stripe could not {action}. Nothing was charged; please try again later.")


class StripePaymentGateway:
    """Checkout Sessions in payment mode. Amounts go out in the currency's minor units, which is what Stripe expects
    for two-decimal currencies, whole units for its zero-decimal ones (our exponent 0), and fils for its
    three-decimal ones (which must end in 0: checked here too, never rounded); its special cases as its currency
    guide says: ISK and UGX with two decimals (ISK 5 as 500), HUF and TWD in whole units only (provider_accepts)."""

    def __init__(self, client: stripe.StripeClient, *, webhook_secret: str) -> None:
        self._client = client
        self._webhook_secret = webhook_secret

    @staticmethod
    def check_credentials(credentials: Mapping[str, str]) -> None:
        """What Stripe's keys look like, so a key pasted into the wrong field is refused when it is connected.
        Raises InvalidInput."""
        if not credentials["secret_key"].startswith(("sk_", "rk_")):
            raise InvalidInput("the Stripe secret key starts with sk_ (or rk_ for a restricted key)")
        if not credentials["webhook_secret"].startswith("whsec_"):
            raise InvalidInput("the Stripe webhook signing secret starts with whsec_")

    @classmethod
    def from_settings(cls, settings: Any, credentials: Mapping[str, str]) -> StripePaymentGateway:
        """settings: stripe_api_base and payment_timeout_seconds; credentials: secret_key and webhook_secret."""
        http = stripe.RequestsClient(timeout=float(settings.payment_timeout_seconds))
        client = stripe.StripeClient(credentials["secret_key"], base_addresses={"api": settings.stripe_api_base},
                                     http_client=http, max_network_retries=1)
        return cls(client, webhook_secret=credentials["webhook_secret"])

    def start_checkout(self, request: CheckoutRequest) -> Checkout:
        amount = request.amount
        lines = request.line_items
        if not provider_accepts(Provider.STRIPE, amount) or not all(
                provider_accepts(Provider.STRIPE, line.amount) for line in lines):
            raise PaymentError(f"Stripe cannot take {amount} exactly")
        exponent(amount.currency)  # an unknown currency never reaches Stripe
        params: dict[str, Any] = {
            "mode": "payment",
            # One line per invoice, each in the form Stripe's currency guide asks for (to_stripe_amount).
            "line_items": [{
                "quantity": 1,
                "price_data": {"currency": line.amount.currency.lower(), "unit_amount": to_stripe_amount(line.amount),
                               "product_data": {"name": line.invoice_number}},
            } for line in lines],
            "client_reference_id": request.invoice_id,
            "metadata": {"invoice_id": request.invoice_id, "payment_id": request.payment_id},
            "payment_intent_data": {"metadata": {"invoice_id": request.invoice_id,
                                                 "payment_id": request.payment_id}},
            "success_url": request.success_url,
            "cancel_url": request.cancel_url,
        }
        if request.customer_email:
            params["customer_email"] = request.customer_email
        if request.expires_at is not None:
            # The session closes when the portal stops handing it out, so an old tab cannot pay later.
            params["expires_at"] = int(request.expires_at.timestamp())
        try:
            session = self._client.v1.checkout.sessions.create(
                params,  # type: ignore[arg-type]
                options={"idempotency_key": request.attempt_key})
        except stripe.StripeError as exc:
            raise _translate("start the payment", exc) from exc
        url, ref = getattr(session, "url", None), getattr(session, "id", None)
        if not url or not ref:
            raise PaymentError("Stripe's answer had no payment page. Nothing was charged; please try again later.")
        return Checkout(url=str(url), provider_ref=str(ref))

    def check(self, provider_ref: str) -> PaymentOutcome:
        try:
            session = self._client.v1.checkout.sessions.retrieve(provider_ref)
        except stripe.StripeError as exc:
            raise _translate("confirm the payment", exc) from exc
        return self._session_outcome(session.to_dict(), paid=None)

    def parse_webhook(self, payload: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        signature = _header(headers, "Stripe-Signature")
        if not signature:
            raise InvalidSignature("missing Stripe-Signature header")
        try:
            event = self._client.construct_event(payload, signature, self._webhook_secret)
        except stripe.SignatureVerificationError as exc:
            raise InvalidSignature("the Stripe signature does not verify") from exc
        except ValueError as exc:  # signed, but not an event
            raise InvalidSignature("the webhook body is not a Stripe event") from exc
        data = event.to_dict()
        event_id, event_type = str(data.get("id") or ""), str(data.get("type") or "")
        if not event_id:
            raise InvalidSignature("the Stripe event has no id")
        obj = (data.get("data") or {}).get("object") or {}
        if event_type not in _SESSION_EVENTS or obj.get("object") != "checkout.session" or not obj.get("id"):
            return ProviderEvent(event_id=event_id, event_type=event_type, outcome=None)
        paid = {"checkout.session.async_payment_succeeded": True, "checkout.session.async_payment_failed": False,
                "checkout.session.expired": False}.get(event_type)
        outcome = self._session_outcome(obj, paid=paid, event_type=event_type)
        return ProviderEvent(event_id=event_id, event_type=event_type, outcome=outcome)

    @staticmethod
    def _session_outcome(obj: Mapping[str, Any], *, paid: bool | None, event_type: str = "") -> PaymentOutcome:
        ref = str(obj.get("id") or "")
        metadata = obj.get("metadata") or {}
        payment_id = metadata.get("payment_id") if isinstance(metadata, Mapping) else None
        amount = obj.get("amount_total")
        currency = obj.get("currency")
        common: dict[str, Any] = {"provider_ref": ref, "payment_id": str(payment_id) if payment_id else None}
        if event_type == "checkout.session.expired" or obj.get("status") == "expired":
            return PaymentOutcome(kind=OutcomeKind.EXPIRED, detail="the Stripe session expired", **common)
        if event_type == "checkout.session.async_payment_failed":
            return PaymentOutcome(kind=OutcomeKind.FAILED, detail="the payment failed at Stripe", **common)
        if paid or obj.get("payment_status") == "paid":
            return PaymentOutcome(kind=OutcomeKind.PAID, paid_minor=from_stripe_amount(amount, currency),
                                  paid_currency=str(currency).upper() if currency else None, **common)
        return PaymentOutcome(kind=OutcomeKind.PENDING, detail=f"Stripe says {obj.get('payment_status')}", **common)
