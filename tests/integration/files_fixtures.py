"""Fixtures for the files and requests web tests: the demo portal over LocalFileStorage in a temporary folder.

Import what a module uses (`from .files_fixtures import FilesPortal, files_portal, homer, ...`).
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Iterator
from pathlib import Path
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
from portal_core import companies, file_sharing
from portal_core.model.files import File
from portal_core.ports import EmailSender
from portal_core.seed import load_seed

SECRET = "x" * 32
NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "no csrf_token on the page"
    return found.group(1)


def form_token_of(page: str) -> str:
    found = re.search(r'name="form_token" value="([^"]+)"', page)
    assert found, "no form_token on the page"
    return found.group(1)


@attrs.define
class SignedIn:
    client: FlaskClient
    token: str

    def url(self, path: str) -> str:
        return f"/p/{self.token}{path}"

    def get(self, path: str, **kwargs: Any) -> Any:
        """Buffered, so the file stream is read and closed here, as a WSGI server would."""
        return self.client.get(self.url(path), buffered=True, **kwargs)

    def stream(self, path: str, **kwargs: Any) -> Any:
        """Unbuffered: the caller reads the streamed body and closes the response."""
        return self.client.get(self.url(path), buffered=False, **kwargs)


@attrs.define
class FilesPortal:
    app: Flask
    services: Services
    clock: FixedClock
    file_dir: Path
    sender: EmailSender

    def token(self, company: str) -> str:
        with self.services.uow() as uow:
            return companies.find_company(uow, company).link_token

    def id_of(self, kind: str, ref: str) -> str:
        with self.services.uow() as uow:
            record = getattr(uow, kind).get_by_ref(ref)
        assert record is not None, f"no {kind} {ref}"
        return str(record.id)

    def attach(self, data: bytes, *, name: str, content_type: str, job: str | None = None,
               invoice: str | None = None) -> File:
        s = self.services
        return file_sharing.attach_file(s.uow(), storage=s.files, clock=s.clock, randomness=s.randomness, job_ref=job,
                                        invoice_ref=invoice,
                                        name=name, content_type=content_type, stream=io.BytesIO(data))

    def sign_in(self, company: str, email: str, code_of: Any) -> SignedIn:
        """The real flow: GET /login, POST the email, read the code from the mailbox, POST /verify."""
        client = self.app.test_client()
        token = self.token(company)
        login = client.get(f"/p/{token}/login")
        sent = client.post(f"/p/{token}/login", data={"email": email, "csrf_token": csrf_of(login.text)})
        assert sent.status_code == 303, sent.text
        verify = client.get(f"/p/{token}/verify")
        done = client.post(f"/p/{token}/verify", data={"code": code_of(email), "csrf_token": csrf_of(verify.text)})
        assert done.status_code == 303, done.text
        self.clock.advance(minutes=2)  # codes are throttled per minute; a second sign-in must not trip over it
        return SignedIn(client=client, token=token)


def recorded_code(sender: RecordingEmailSender) -> Any:
    def code_of(email: str) -> str:
        found = re.search(r"(?<!\d)(\d{6})(?!\d)", sender.to(email)[-1].text)
        assert found, "no code in the email"
        return found.group(1)
    return code_of


def make_files_portal(file_dir: Path, *, sender: EmailSender | None = None, **settings: Any) -> FilesPortal:
    clock = FixedClock(NOW)
    sender = sender if sender is not None else RecordingEmailSender()
    values: dict[str, Any] = {"database_url": "memory://", "file_dir": str(file_dir), "secret_key": SECRET}
    values.update(settings)
    services = build_services(Settings.from_env({}, **values), email_sender=sender, clock=clock)
    load_seed(services.uow(), randomness=services.randomness, clock=clock, storage=services.files,
              document=demo_seed(NOW.date()))
    return FilesPortal(app=create_app(services=services, synchronous_mail=True), services=services, clock=clock,
                       file_dir=file_dir, sender=sender)


@pytest.fixture
def files_portal(tmp_path: Path, store_url: str) -> Iterator[FilesPortal]:
    """The demo portal (Globex, Initech), its file contents in a LocalFileStorage under tmp_path, its records once
    in each store: in memory, SQLite and PostgreSQL."""
    portal = make_files_portal(tmp_path / "files", database_url=store_url)
    yield portal
    portal.services.close()


@pytest.fixture
def outbox(files_portal: FilesPortal) -> RecordingEmailSender:
    assert isinstance(files_portal.sender, RecordingEmailSender)
    return files_portal.sender


@pytest.fixture
def homer(files_portal: FilesPortal, outbox: RecordingEmailSender) -> SignedIn:
    return files_portal.sign_in("globex", "homer@globex.example", recorded_code(outbox))


@pytest.fixture
def marge(files_portal: FilesPortal, outbox: RecordingEmailSender) -> SignedIn:
    return files_portal.sign_in("globex", "marge@globex.example", recorded_code(outbox))


@pytest.fixture
def peter(files_portal: FilesPortal, outbox: RecordingEmailSender) -> SignedIn:
    return files_portal.sign_in("initech", "peter@initech.example", recorded_code(outbox))
