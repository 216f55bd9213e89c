"""Local stand-ins for Stripe and Telr, served on 127.0.0.1 by werkzeug, answering like the real APIs and keeping
every request they receive so the tests can check what the adapters sent."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import attrs
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response


@attrs.define
class Received:
    method: str
    path: str
    form: dict[str, str]
    headers: dict[str, str]


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status, content_type="application/json")


class FakeStripe:
    """Checkout Sessions: create (replaying the first answer for a repeated Idempotency-Key, as Stripe does, and
    keeping the expires_at asked for), retrieve, and a switch to answer with an API error."""

    def __init__(self) -> None:
        self.sessions: dict[str, dict[str, Any]] = {}
        self.received: list[Received] = []
        self.by_idempotency_key: dict[str, dict[str, Any]] = {}
        self.error: tuple[int, str] | None = None  # (HTTP status, Stripe error type) for the next calls
        self.delay = 0.0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        self.received.append(Received(request.method, request.path, dict(request.form.items()),
                                      dict(request.headers.items())))
        if self.delay:
            time.sleep(self.delay)
        return self._answer(request)(environ, start_response)

    def _answer(self, request: Request) -> Response:
        if not request.headers.get("Authorization", "").startswith("Bearer sk_test_"):
            return _json({"error": {"type": "invalid_request_error", "message": "Invalid API Key provided"}}, 401)
        if self.error is not None:
            status, kind = self.error
            return _json({"error": {"type": kind, "message": "fake stripe error"}}, status)
        if request.method == "POST" and request.path == "/v1/checkout/sessions":
            key = request.headers.get("Idempotency-Key", "")
            if key and key in self.by_idempotency_key:
                return _json(self.by_idempotency_key[key])
            form = request.form
            sid = f"cs_test_{len(self.sessions) + 1:04d}"
            session = {
                "id": sid, "object": "checkout.session", "url": f"https://checkout.stripe.test/c/pay/{sid}",
                "mode": form.get("mode"), "status": "open", "payment_status": "unpaid",
                "amount_total": sum(  # every line, as Stripe sums them
                    int(form[f"line_items[{n}][price_data][unit_amount]"])
                    * int(form.get(f"line_items[{n}][quantity]", "1"))
                    for n in range(len([k for k in form if k.endswith("][price_data][unit_amount]")]))),
                "currency": form.get("line_items[0][price_data][currency]"),
                "client_reference_id": form.get("client_reference_id"),
                "metadata": {k[len("metadata["):-1]: v for k, v in form.items() if k.startswith("metadata[")},
                "success_url": form.get("success_url"), "cancel_url": form.get("cancel_url"),
                "expires_at": int(form["expires_at"]) if "expires_at" in form else None,
            }
            self.sessions[sid] = session
            if key:
                self.by_idempotency_key[key] = session
            return _json(session)
        found = re.fullmatch(r"/v1/checkout/sessions/([^/]+)", request.path)
        if request.method == "GET" and found and found.group(1) in self.sessions:
            return _json(self.sessions[found.group(1)])
        return _json({"error": {"type": "invalid_request_error", "message": f"no route {request.path}"}}, 404)

    def creates(self) -> list[Received]:
        return [r for r in self.received if r.method == "POST" and r.path == "/v1/checkout/sessions"]

    def retrieves(self) -> list[Received]:
        return [r for r in self.received if r.method == "GET" and r.path.startswith("/v1/checkout/sessions/")]

    def complete(self, sid: str) -> dict[str, Any]:
        """The client paid on Stripe's page."""
        self.sessions[sid].update(status="complete", payment_status="paid")
        return self.sessions[sid]


def stripe_event(event_id: str, event_type: str, session: dict[str, Any]) -> bytes:
    return json.dumps({"id": event_id, "object": "event", "type": event_type, "api_version": "2024-06-20",
                       "created": int(time.time()), "livemode": False, "pending_webhooks": 1,
                       "data": {"object": session}}).encode()


def stripe_signature(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """Stripe's scheme: t=<unix time>,v1=HMAC-SHA256(secret, "<t>.<payload>")."""
    t = int(time.time()) if timestamp is None else timestamp
    signature = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={signature}"


class FakeTelr:
    """order.json: create and check, form-encoded in, JSON out, like Telr's hosted payment page API."""

    def __init__(self, *, store_id: str = "12345", auth_key: str = "telr-auth-KEY-4321") -> None:
        self.store_id = store_id
        self.auth_key = auth_key
        self.orders: dict[str, dict[str, str]] = {}
        self.received: list[Received] = []
        self.status: dict[str, tuple[int, str]] = {}  # order ref -> (order.status.code, transaction status)
        self.reported_amount: dict[str, str] = {}
        self.garbage = False
        self.delay = 0.0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        self.received.append(Received(request.method, request.path, dict(request.form.items()),
                                      dict(request.headers.items())))
        if self.delay:
            time.sleep(self.delay)
        if self.garbage:
            return Response("<html>502 Bad Gateway</html>", 200, content_type="text/html")(environ, start_response)
        return self._answer(request)(environ, start_response)

    def _answer(self, request: Request) -> Response:
        form = request.form
        if request.method != "POST" or request.mimetype != "application/x-www-form-urlencoded":
            return _json({"error": {"message": "Invalid request", "note": "E01"}})
        if form.get("ivp_store") != self.store_id or form.get("ivp_authkey") != self.auth_key:
            return _json({"error": {"message": "Invalid authentication", "note": "E02"}})
        if form.get("ivp_method") == "create":
            if any(o["ivp_cart"] == form.get("ivp_cart") for o in self.orders.values()):
                return _json({"error": {"message": "Duplicate cart id", "note": "E05"}})
            ref = f"{len(self.orders) + 1:012X}"
            self.orders[ref] = dict(form.items())
            self.status[ref] = (1, "")
            return _json({"method": "create", "trace": "4000/1234",
                          "order": {"ref": ref, "url": f"https://secure.telr.test/gateway/process.html?o={ref}"}})
        if form.get("ivp_method") == "check":
            ref = form.get("order_ref", "")
            if ref not in self.orders:
                return _json({"method": "check", "error": {"message": "Order not found", "note": "E10"}})
            order = self.orders[ref]
            code, transaction = self.status[ref]
            text = {1: "Pending", 2: "Authorised", 3: "Paid", -1: "Expired", -2: "Cancelled", -3: "Declined"}[code]
            return _json({"method": "check", "trace": "4000/1235", "order": {
                "ref": ref, "cartid": order["ivp_cart"], "test": int(order.get("ivp_test", "0")),
                "amount": self.reported_amount.get(ref, order["ivp_amount"]), "currency": order["ivp_currency"],
                "description": order["ivp_desc"], "status": {"code": code, "text": text},
                "transaction": {"ref": "0401" + ref, "type": "sale", "class": "ECom", "status": transaction,
                                "code": "1", "message": text}}})
        return _json({"error": {"message": "Invalid request", "note": "E03"}})

    def creates(self) -> list[Received]:
        return [r for r in self.received if r.form.get("ivp_method") == "create"]

    def checks(self) -> list[Received]:
        return [r for r in self.received if r.form.get("ivp_method") == "check"]


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Serves a WSGI app on 127.0.0.1 (a free port) in a thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
