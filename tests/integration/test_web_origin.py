"""Where a request comes from, as the portal judges it: CSRF under https (the Referer must be the portal's own
origin), and X-Forwarded-For, which counts only when a trusted proxy set it (PORTAL_TRUSTED_PROXIES)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask

from adapters.memory import RecordingEmailSender
from entrypoints.bootstrap import Services
from portal_core import companies
from tests.support.portal_app import build_portal, csrf_of, link_token

HTTPS = "https://portal.example"
HOMER = "homer@globex.example"


@pytest.fixture
def portals(store_url: str) -> Iterator[Callable[..., tuple[Flask, Services, RecordingEmailSender]]]:
    built: list[Services] = []

    def make(**settings: Any) -> tuple[Flask, Services, RecordingEmailSender]:
        sender = RecordingEmailSender()
        app, services = build_portal(email_sender=sender, database_url=store_url, **settings)
        built.append(services)
        return app, services, sender

    yield make
    for services in built:
        services.close()


@pytest.mark.parametrize(("referer", "accepted"), [
    (None, False),  # a browser always sends it to its own https site; a forged cross-site POST may strip it
    ("https://evil.example/p/anything", False),
    ("http://portal.example/login", False),  # the same host without TLS is another origin
    ("https://portal.example.evil.example/", False),
    (f"{HTTPS}/p/x/login", True),
])
def test_under_https_a_form_needs_a_referer_of_the_portals_own_origin(portals: Any, referer: str | None,
                                                                      accepted: bool) -> None:
    app, services, sender = portals(base_url=HTTPS)
    token = link_token(services, "globex")
    client = app.test_client()
    page = client.get(f"/p/{token}/login", base_url=HTTPS)
    assert page.status_code == 200
    headers = {"Referer": referer} if referer else {}
    response = client.post(f"/p/{token}/login", base_url=HTTPS, headers=headers,
                           data={"email": HOMER, "csrf_token": csrf_of(page.text)})
    if accepted:
        assert response.status_code == 303 and len(sender.to(HOMER)) == 1
    else:
        assert response.status_code == 400 and "This form has expired" in response.text
        assert sender.to(HOMER) == []  # no code was made or sent
        assert "Traceback" not in response.text


def _request_code(app: Flask, token: str, email: str, forwarded_for: str) -> int:
    client = app.test_client()  # a browser of its own: a flow of its own
    page = client.get(f"/p/{token}/login", headers={"X-Forwarded-For": forwarded_for})
    response = client.post(f"/p/{token}/login", headers={"X-Forwarded-For": forwarded_for},
                           data={"email": email, "csrf_token": csrf_of(page.text)})
    return response.status_code


def _audited_addresses(services: Services) -> set[str | None]:
    return {line.entry.ip for line in companies.audit_trail(services.uow(), "globex")}


def test_x_forwarded_for_is_ignored_when_no_proxy_is_trusted(portals: Any) -> None:
    app, services, sender = portals()  # PORTAL_TRUSTED_PROXIES unset: the portal faces clients directly
    token = link_token(services, "globex")
    # Three code requests for one address from one client address are allowed an hour; a client that claims a new
    # address each time is still one client.
    statuses = [_request_code(app, token, HOMER, f"198.51.100.{n}") for n in range(1, 5)]
    assert statuses[:3] == [303, 303, 303] and statuses[3] == 429
    assert len(sender.to(HOMER)) == 3
    assert _audited_addresses(services) == {"127.0.0.1"}  # the socket's address, never the header's


def test_behind_a_trusted_proxy_its_x_forwarded_for_names_the_client(portals: Any) -> None:
    app, services, sender = portals(trusted_proxies=1)
    token = link_token(services, "globex")
    statuses = [_request_code(app, token, HOMER, f"198.51.100.{n}") for n in range(1, 5)]
    assert statuses == [303, 303, 303, 303]  # four clients, each well inside its own limit
    assert len(sender.to(HOMER)) == 4
    assert _audited_addresses(services) == {f"198.51.100.{n}" for n in range(1, 5)}
