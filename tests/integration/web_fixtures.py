"""Fixtures for the web tests: a portal app over the in-memory adapters seeded with the demo, and signed-in clients.

Import the fixtures you use into the test module (`from .web_fixtures import portal, ...`): only the top-level
conftest may declare pytest_plugins.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import attrs
import pytest
from flask import Flask
from flask.testing import FlaskClient

from adapters.memory import FixedClock, RecordingEmailSender
from entrypoints.bootstrap import Services, build_services
from entrypoints.demo import demo_seed
from entrypoints.settings import Settings
from entrypoints.web import create_app
from portal_core import companies
from portal_core.seed import load_seed

SECRET = "web-test-secret-key-0123456789"
NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
TODAY = NOW.date()


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "no csrf_token on the page"
    return found.group(1)


@attrs.define
class WebPortal:
    """A running portal app over in-memory adapters, with shortcuts to sign in and to look records up by ref."""

    app: Flask
    services: Services
    sender: RecordingEmailSender
    clock: FixedClock

    def seed(self, document: Any) -> None:
        s = self.services
        load_seed(s.uow(), randomness=s.randomness, clock=s.clock, storage=s.files, document=document)

    def token(self, company: str) -> str:
        with self.services.uow() as uow:
            return companies.find_company(uow, company).link_token

    def id_of(self, kind: str, ref: str) -> str:
        """The public id of a seeded record: kind is a unit-of-work attribute (invoices, quotes, jobs, ...)."""
        with self.services.uow() as uow:
            record = getattr(uow, kind).get_by_ref(ref)
        assert record is not None, f"no {kind} with ref {ref}"
        return str(record.id)

    def code_for(self, email: str) -> str:
        found = re.search(r"(?<!\d)(\d{6})(?!\d)", self.sender.to(email)[-1].text)
        assert found, "no code in the email"
        return found.group(1)

    def sign_in(self, company: str, email: str) -> SignedIn:
        """Signs in through the real flow: GET /login, POST the email, read the mailed code, POST /verify."""
        client = self.app.test_client()
        token = self.token(company)
        login = client.get(f"/p/{token}/login")
        assert login.status_code == 200
        sent = client.post(f"/p/{token}/login", data={"email": email, "csrf_token": _csrf(login.text)})
        assert sent.status_code == 303, sent.text
        verify = client.get(f"/p/{token}/verify")
        done = client.post(f"/p/{token}/verify",
                           data={"code": self.code_for(email), "csrf_token": _csrf(verify.text)})
        assert done.status_code == 303 and done.headers["Location"].endswith(f"/p/{token}/"), done.text
        # Sign-in codes are throttled per minute; later sign-ins in the same test must not trip over that.
        self.clock.advance(minutes=2)
        return SignedIn(client=client, token=token)


@attrs.define
class SignedIn:
    """A test client holding a portal session, and the link token of its portal."""

    client: FlaskClient
    token: str

    def get(self, path: str = "/", **kwargs: Any) -> Any:
        return self.client.get(f"/p/{self.token}{path}", **kwargs)


def make_portal(*, seed: Any = None, now: dt.datetime = NOW, database_url: str = "memory://",
                **settings: Any) -> WebPortal:
    """The portal over in-memory adapters, or over a migrated database (`database_url`), seeded with the demo;
    `settings` override the defaults (api_rate_per_minute=3, ...)."""
    sender = RecordingEmailSender()
    clock = FixedClock(now)
    services = build_services(Settings.from_env({}, database_url=database_url, file_dir="memory://",
                                                secret_key=SECRET, **settings), email_sender=sender, clock=clock)
    portal = WebPortal(app=create_app(services=services, synchronous_mail=True), services=services, sender=sender,
                       clock=clock)
    portal.seed(demo_seed(now.date()) if seed is None else seed)
    return portal


@pytest.fixture
def portal() -> WebPortal:
    """The demo portal (Globex and Initech), today being NOW."""
    return make_portal()


@pytest.fixture(name="portal")
def portal_on_every_store(store_url: str) -> Iterator[WebPortal]:
    """The demo portal as `portal` is, once over each store: in memory, SQLite and PostgreSQL. A module imports it
    in place of `portal` (needs the store_url fixture of tests/integration/conftest.py)."""
    portal = make_portal(database_url=store_url)
    yield portal
    portal.services.close()


@pytest.fixture
def db_portal(database_url: str) -> Iterator[WebPortal]:
    """The demo portal over a migrated database, once on SQLite and once on PostgreSQL (needs the database_url
    fixture of tests/integration/conftest.py)."""
    portal = make_portal(database_url=database_url)
    yield portal
    portal.services.close()


@pytest.fixture
def homer(portal: WebPortal) -> SignedIn:
    """Homer Simpson, signed in to Globex's portal."""
    return portal.sign_in("globex", "homer@globex.example")
