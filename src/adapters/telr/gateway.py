"""TelrPaymentGateway: form-encoded POSTs to order.json (authentication in the body), JSON answers, stdlib HTTP."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode, urlsplit

from portal_core.errors import InvalidAmount, InvalidInput, PaymentError, UnknownCurrency
from portal_core.model.money import Money
from portal_core.model.payment import Checkout, CheckoutRequest, OutcomeKind, PaymentOutcome, ProviderEvent

MAX_ANSWER_BYTES = 1 << 20
# order.status.code as Telr documents it. Only 3 (paid) with an authorised transaction (A) is money received.
_STATUS = {1: (OutcomeKind.PENDING, "pending"), 2: (OutcomeKind.PENDING, "authorised, on hold"),
           3: (OutcomeKind.PAID, "paid"), -1: (OutcomeKind.EXPIRED, "expired"),
           -2: (OutcomeKind.CANCELLED, "cancelled"), -3: (OutcomeKind.FAILED, "declined")}
UNREACHABLE = "Telr could not be reached just now. Nothing was charged; please try again in a few minutes."


class TelrPaymentGateway:
    def __init__(self, *, api_url: str, store_id: str, auth_key: str, test_mode: bool, timeout: float) -> None:
        if urlsplit(api_url).scheme not in ("http", "https"):
            raise ValueError(f"the Telr API URL must be http(s), not {api_url!r}")
        self._url = api_url
        self._store_id = store_id
        self._auth_key = auth_key
        self._test_mode = test_mode
        self._timeout = timeout

    @staticmethod
    def check_credentials(credentials: Mapping[str, str]) -> None:
        """What Telr's store id and auth key look like. Raises InvalidInput."""
        if not credentials["store_id"].isdigit():
            raise InvalidInput("the Telr store id is a number")
        if not credentials["auth_key"] or any(c.isspace() for c in credentials["auth_key"]):
            raise InvalidInput("the Telr auth key must be given, without spaces")
        if credentials["test_mode"] not in ("0", "1"):
            raise InvalidInput("test_mode is 0 or 1")

    @classmethod
    def from_settings(cls, settings: Any, credentials: Mapping[str, str]) -> TelrPaymentGateway:
        """settings: telr_api_url and payment_timeout_seconds; credentials: store_id, auth_key and test_mode."""
        return cls(api_url=settings.telr_api_url, store_id=credentials["store_id"],
                   auth_key=credentials["auth_key"], test_mode=credentials.get("test_mode") == "1",
                   timeout=float(settings.payment_timeout_seconds))

    def __repr__(self) -> str:
        return f"TelrPaymentGateway(store_id={self._store_id!r}, test_mode={self._test_mode})"

    def _post(self, fields: dict[str, str], action: str) -> dict[str, Any]:
        body = urlencode({"ivp_store": self._store_id, "ivp_authkey": self._auth_key, **fields}).encode("ascii")
        request = urllib.request.Request(self._url, data=body, method="POST", headers={
            "Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:  # noqa: S310 (http(s) only)
                raw = response.read(MAX_ANSWER_BYTES + 1)
        except urllib.error.HTTPError as exc:
            raise PaymentError(f"Telr answered with an error (HTTP {exc.code}) when asked to {action}. "
                               "Nothing was charged; please try again later.") from exc
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise PaymentError(UNREACHABLE) from exc
        try:
            if len(raw) > MAX_ANSWER_BYTES:
                raise ValueError("answer too large")
            answer = json.loads(raw)
        except ValueError as exc:
            raise PaymentError(f"Telr sent an answer we could not read when asked to {action}. Nothing was "
                               "charged; please try again later.") from exc
        if not isinstance(answer, dict):
            raise PaymentError(f"Telr sent an answer we could not read when asked to {action}.")
        error = answer.get("error")
        if error:
            message = error.get("message") if isinstance(error, dict) else str(error)
            note = error.get("note") if isinstance(error, dict) else ""
            raise PaymentError(f"Telr could not {action}: {message or 'error'}"
                               f"{f' ({note})' if note else ''}. Nothing was charged.")
        return answer

    def start_checkout(self, request: CheckoutRequest) -> Checkout:
        answer = self._post({
            "ivp_method": "create",
            "ivp_cart": request.attempt_key,  # unique per attempt: Telr refuses a repeated cart id
            "ivp_test": "1" if self._test_mode else "0",
            "ivp_amount": request.amount.decimal_string(),  # "360.00", "12.345", "5000"
            "ivp_currency": request.amount.currency,
            "ivp_desc": request.description[:63],
            "return_auth": request.success_url,
            "return_decl": request.declined_url,
            "return_can": request.cancel_url,
        }, "start the payment")
        order = answer.get("order")
        ref = order.get("ref") if isinstance(order, dict) else None
        url = order.get("url") if isinstance(order, dict) else None
        if not isinstance(ref, str) or not ref or not isinstance(url, str) or not url.startswith("https://"):
            raise PaymentError("Telr's answer had no payment page. Nothing was charged; please try again later.")
        return Checkout(url=url, provider_ref=ref)

    def check(self, provider_ref: str) -> PaymentOutcome:
        answer = self._post({"ivp_method": "check", "order_ref": provider_ref}, "confirm the payment")
        order = answer.get("order")
        if not isinstance(order, dict) or not isinstance(order.get("status"), dict):
            raise PaymentError("Telr's answer about the order could not be read.")
        try:
            code = int(order["status"].get("code"))
        except (TypeError, ValueError):
            code = None
        if code not in _STATUS:
            raise PaymentError(f"Telr reported an order status we do not know ({order['status'].get('code')!r}).")
        kind, text = _STATUS[code]
        found = order.get("transaction")
        transaction: dict[str, Any] = found if isinstance(found, dict) else {}
        if kind == OutcomeKind.PAID:
            if transaction.get("status") != "A":
                return PaymentOutcome(provider_ref=provider_ref, kind=OutcomeKind.PENDING,
                                      detail="Telr says paid, but the transaction is not authorised")
            paid_minor, currency = self._amount(order.get("amount"), order.get("currency"))
            return PaymentOutcome(provider_ref=provider_ref, kind=kind, paid_minor=paid_minor, paid_currency=currency,
                                  detail=text)
        return PaymentOutcome(provider_ref=provider_ref, kind=kind, detail=f"Telr says {text}")

    @staticmethod
    def _amount(amount: object, currency: object) -> tuple[int | None, str | None]:
        code = str(currency).strip().upper() if currency else None
        if code is None or amount is None:
            return None, code
        try:
            text = str(amount).strip()
            Decimal(text)
            return Money.parse(text, code).minor, code
        except (InvalidAmount, UnknownCurrency, ArithmeticError, ValueError):
            return None, code  # recorded as a mismatch for review, never guessed

    def parse_webhook(self, payload: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        raise PaymentError("Telr orders are checked with Telr, not pushed to the portal")
