"""Refused requests, told once: the client's address as the portal sees it, and the access log's WARNING lines
for refusals (rate-limited per address and kind, never naming an email, code, token or cookie)."""

from __future__ import annotations

import logging
import threading
import time

from flask import g, request

from entrypoints.web.services import portal_services


def client_ip() -> str:
    return request.remote_addr or "unknown"


access_log = logging.getLogger("portal.access")
_LOG_EVERY = 60.0  # seconds: at most one line per client address and kind of refusal in that time
_last_logged: dict[tuple[str, str], float] = {}
_last_logged_lock = threading.Lock()


def log_refusal(kind: str) -> None:
    """One WARNING line for a refused request: the kind, the route (its rule: never the link token), the company
    when known, and a keyed hash of the client address; never an email, code, token or cookie. A client that keeps
    being refused makes one line a minute per kind in each worker, so the log cannot be flooded either."""
    client = portal_services().sign_in_secrets.throttle.for_ip(client_ip())[3:19]
    now = time.monotonic()
    with _last_logged_lock:
        if now - _last_logged.get((client, kind), -_LOG_EVERY) < _LOG_EVERY:
            return
        if len(_last_logged) > 10_000:  # forget the quiet ones rather than grow without bound
            _last_logged.clear()
        _last_logged[(client, kind)] = now
    found = getattr(g, "viewer", None)
    company = found.company.id if found is not None else "-"
    route = request.url_rule.rule if request.url_rule is not None else "-"
    access_log.warning("refused %s: %s %s company=%s client=%s", kind, request.method, route, company, client)
