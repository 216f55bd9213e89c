"""The second embedding example (examples/small_crm): a CRM with no column for the link token, embedded with only
the library's documented names. It passes the read-only contract with the expectations its developer would write;
its links rotate; turning its portal off and on, by its own column, leaves every older session dead."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from small_crm.crm import SmallCrmUnitOfWork
from small_crm.portal import BUSINESS, create_crm_database, services

from adapters.memory import FixedClock, RecordingEmailSender
from adapters.sqlalchemy import embedding
from entrypoints.bootstrap import Services
from entrypoints.settings import Settings
from entrypoints.web import create_app
from portal_core import companies
from portal_core.errors import CrmOwnedRecord
from portal_core.model.documents import InvoiceStatus
from portal_core.testing.contract import RepositoryReadContract, UowFactory
from portal_core.testing.leaks import Expectations
from tests.support.portal_app import outbox_code, sign_in

SECRET = "small-crm-test-secret-0123456789"
NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def crm(tmp_path: Path) -> tuple[str, Path]:
    path = tmp_path / "crm.db"
    return create_crm_database(path), path


@pytest.fixture
def make_crm_uow(crm: tuple[str, Path]) -> Iterator[UowFactory]:
    engine = embedding.crm_engine(crm[0])
    yield lambda: SmallCrmUnitOfWork(engine, SECRET, BUSINESS)
    engine.dispose()


class TestSmallCrmRepositories(RepositoryReadContract):
    @pytest.fixture
    def make_uow(self, make_crm_uow: UowFactory) -> UowFactory:
        return make_crm_uow

    @pytest.fixture
    def expectations(self) -> Expectations:
        """What sample_data.sql says, as the CRM's developer reads it."""
        return Expectations(
            companies={"C1": True, "C2": True, "C3": False},
            invoices={"INV-1000": (InvoiceStatus.SENT, 0), "INV-1001": (InvoiceStatus.PARTIALLY_PAID, 5000),
                      "INV-1002": (InvoiceStatus.DRAFT, 0), "INV-1003": (InvoiceStatus.PAID, 50000)},
            jobs={"WO-500": "P100", "WO-501": None, "WO-600": "P200"})


@pytest.fixture
def portal(crm: tuple[str, Path]) -> Iterator[tuple[object, Services, RecordingEmailSender]]:
    sender = RecordingEmailSender()
    settings = Settings.from_env({}, database_url=crm[0], secret_key=SECRET, file_dir="memory://")
    built = services(settings, email_sender=sender, clock=FixedClock(NOW))
    yield create_app(services=built, synchronous_mail=True), built, sender
    built.close()


def _link_token(built: Services, ref: str) -> str:
    with built.uow() as uow:
        return companies.find_company(uow, ref).link_token


def test_a_derived_link_is_stable_and_a_rotated_one_replaces_it(portal: tuple[object, Services, RecordingEmailSender],
                                                                ) -> None:
    _app, built, _sender = portal
    first = _link_token(built, "C1")
    assert len(first) >= 22 and first == _link_token(built, "C1") != _link_token(built, "C2")
    rotated = companies.rotate_link(built.uow(), randomness=built.randomness, company_key="C1")
    assert rotated.link_token != first and _link_token(built, "C1") == rotated.link_token
    with built.uow() as uow:
        assert uow.companies.get_by_link_token(first) is None  # the old link is dead
        found = uow.companies.get_by_link_token(rotated.link_token)
        assert found is not None and found.ref == "C1"


def test_staff_cannot_change_what_the_crm_owns(portal: tuple[object, Services, RecordingEmailSender]) -> None:
    _app, built, _sender = portal
    with pytest.raises(CrmOwnedRecord):
        companies.set_portal_access(built.uow(), "C1", enabled=False)


def _set_portal(path: Path, client: int, on: bool) -> None:
    """The CRM's own code flipping its own column, outside the portal."""
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE clients SET portal = ? WHERE id = ?", (1 if on else 0, client))
    connection.close()


def test_access_off_then_on_in_the_crm_leaves_every_older_session_dead(
        portal: tuple[object, Services, RecordingEmailSender], crm: tuple[str, Path]) -> None:
    app, built, sender = portal
    token = _link_token(built, "C1")
    homer = app.test_client()  # type: ignore[attr-defined]
    sign_in(homer, token, "homer@globex.example", outbox_code(sender))
    assert homer.get(f"/p/{token}/").status_code == 200
    _set_portal(crm[1], 1, on=False)
    _set_portal(crm[1], 1, on=True)  # no request came while it was off
    assert homer.get(f"/p/{token}/").status_code == 303  # to sign-in: the session ended for good
    again = app.test_client()  # type: ignore[attr-defined]
    sign_in(again, token, "homer@globex.example", outbox_code(sender))
    assert again.get(f"/p/{token}/").status_code == 200  # a new sign-in works
    _set_portal(crm[1], 1, on=False)
    assert again.get(f"/p/{token}/").status_code == 404  # off: the portal is not there at all
