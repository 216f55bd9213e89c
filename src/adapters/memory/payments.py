"""A payment gateway that keeps everything in memory: the unit tests' provider, and a stand-in for demos."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping

from portal_core.errors import InvalidSignature, PaymentError
from portal_core.model.payment import Checkout, CheckoutRequest, OutcomeKind, PaymentOutcome, ProviderEvent
from portal_core.ports import PaymentGateway

SIGNATURE_HEADER = "X-Test-Signature"


class InMemoryPaymentGateway:
    """Records each checkout; check() answers what the test set in `outcomes`; webhooks are HMAC-signed JSON
    ({"id", "type", "ref", "kind", "paid_minor", "paid_currency"}) under SIGNATURE_HEADER."""

    def __init__(self, *, name: str = "memory", webhook_secret: str = "test-webhook-secret") -> None:
        self.name = name
        self.webhook_secret = webhook_secret
        self.checkouts: list[CheckoutRequest] = []
        self.outcomes: dict[str, PaymentOutcome] = {}
        self.fail_with: str | None = None  # set to make every call fail, as a provider that is down would
        self.credentials_seen: list[dict[str, str]] = []

    def factory(self, credentials: Mapping[str, str]) -> PaymentGateway:
        self.credentials_seen.append(dict(credentials))
        return self

    def start_checkout(self, request: CheckoutRequest) -> Checkout:
        if self.fail_with:
            raise PaymentError(self.fail_with)
        self.checkouts.append(request)
        ref = f"{self.name}_{len(self.checkouts)}_{request.attempt_key}"
        return Checkout(url=f"https://pay.{self.name}.test/{ref}", provider_ref=ref)

    def check(self, provider_ref: str) -> PaymentOutcome:
        if self.fail_with:
            raise PaymentError(self.fail_with)
        return self.outcomes.get(provider_ref, PaymentOutcome(provider_ref=provider_ref, kind=OutcomeKind.PENDING))

    def sign(self, payload: bytes) -> str:
        return hmac.new(self.webhook_secret.encode(), payload, hashlib.sha256).hexdigest()

    def parse_webhook(self, payload: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        given = next((v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER.lower()), "")
        if not given or not hmac.compare_digest(given, self.sign(payload)):
            raise InvalidSignature("bad signature")
        data = json.loads(payload)
        outcome = None
        if data.get("ref"):
            outcome = PaymentOutcome(provider_ref=data["ref"], kind=OutcomeKind(data["kind"]),
                                     paid_minor=data.get("paid_minor"), paid_currency=data.get("paid_currency"))
        return ProviderEvent(event_id=data["id"], event_type=data.get("type", "test"), outcome=outcome)
