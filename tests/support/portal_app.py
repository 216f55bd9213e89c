"""Builds a portal app over in-memory or SQL adapters, seeded with the demo data, and signs clients in through it."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from adapters.memory import FixedClock, RecordingEmailSender
from entrypoints.bootstrap import Services, build_services
from entrypoints.demo import demo_seed
from entrypoints.settings import Settings
from entrypoints.web import create_app
from portal_core import companies
from portal_core.ports import EmailSender
from portal_core.seed import load_seed

SECRET = "test-secret-key-0123456789abcdef"
NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


def build_portal(*, email_sender: EmailSender | None = None, clock: FixedClock | None = None,
                 seed: Any = None, **settings: Any) -> tuple[Flask, Services]:
    values: dict[str, Any] = {"database_url": "memory://", "file_dir": "memory://", "secret_key": SECRET}
    values.update(settings)
    services = build_services(Settings.from_env({}, **values), email_sender=email_sender or RecordingEmailSender(),
                              clock=clock or FixedClock(NOW))
    document = seed if seed is not None else demo_seed(services.clock.now().date())
    load_seed(services.uow(), randomness=services.randomness, clock=services.clock, storage=services.files,
              document=document)
    return create_app(services=services, synchronous_mail=True), services


def link_token(services: Services, company: str) -> str:
    with services.uow() as uow:
        return companies.find_company(uow, company).link_token


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "no csrf_token in the page"
    return found.group(1)


def sign_in(client: FlaskClient, token: str, email: str, read_code: Callable[[str], str]) -> None:
    """The real flow: GET /login, POST the email, read the mailed code, POST /verify."""
    page = client.get(f"/p/{token}/login")
    assert page.status_code == 200
    response = client.post(f"/p/{token}/login", data={"email": email, "csrf_token": csrf_of(page.text)})
    assert response.status_code == 303, response.status_code
    verify = client.get(f"/p/{token}/verify")
    response = client.post(f"/p/{token}/verify", data={"code": read_code(email), "csrf_token": csrf_of(verify.text)})
    assert response.status_code == 303 and response.headers["Location"].endswith(f"/p/{token}/"), response.text


def outbox_code(sender: RecordingEmailSender) -> Callable[[str], str]:
    def read(email: str) -> str:
        found = re.search(r"(?<!\d)(\d{6})(?!\d)", sender.to(email)[-1].text)
        assert found
        return found.group(1)

    return read
