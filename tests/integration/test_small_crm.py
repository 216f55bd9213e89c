"""The second embedding example (examples/small_crm): a CRM with no column for the link token, embedded with only
the library's documented names. It passes the read-only contract with the expectations its developer would write;
its links rotate; turning its portal off and on, by its own column, leaves every older session dead."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import sqlite3
import subprocess
import sys
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
from tests.support.portal_app import csrf_of, outbox_code, sign_in

SECRET = "small-crm-test-secret-0123456789"
NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
PORTAL = str(Path(sys.executable).parent / "portal")


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


def _portal(url: str, *args: str, app: str | None = "small_crm.portal:services",
            env_app: str | None = None) -> subprocess.CompletedProcess[str]:
    """The `portal` command as staff run it next to the CRM: the CRM's package on the path, its services named."""
    env = {**os.environ, "PORTAL_DATABASE_URL": url, "PORTAL_SECRET_KEY": SECRET,
           "PYTHONPATH": str(Path(__file__).parents[2] / "examples" / "small_crm")}
    env.pop("PORTAL_APP", None)
    if env_app:
        env["PORTAL_APP"] = env_app
    command = [PORTAL, *(["--app", app] if app else []), *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def test_staff_commands_work_over_the_crm_with_app(portal: tuple[object, Services, RecordingEmailSender],
                                                   crm: tuple[str, Path]) -> None:
    app, built, sender = portal
    url = crm[0]
    listed = _portal(url, "company", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [(c["ref"], c["name"], c["portal_enabled"]) for c in json.loads(listed.stdout)["companies"]] == [
        ("C1", "Globex LLC", True), ("C2", "Initech", True), ("C3", "Umbrella Corp", False)]
    link = _portal(url, "link", "C1").stdout.strip()
    assert link.endswith("/p/" + _link_token(built, "C1"))  # the same link the web app serves

    token = _link_token(built, "C1")  # a client sends a request; staff list it and move it along by the command
    homer = app.test_client()  # type: ignore[attr-defined]
    sign_in(homer, token, "homer@globex.example", outbox_code(sender))
    form = homer.get(f"/p/{token}/requests/new")
    posted = homer.post(f"/p/{token}/requests/new", data={
        "title": "Leaking pipe", "details": "Kitchen", "csrf_token": csrf_of(form.text),
        "form_token": re.search(r'name="form_token" value="([^"]+)"', form.text).group(1)})  # type: ignore[union-attr]
    assert posted.status_code == 303, posted.text
    [notice] = [m for m in sender.outbox if "Leaking pipe" in m.subject]
    named = re.search(r"\((portal request status (\S+) open\|in_progress\|closed)\)", notice.text)
    assert named is not None  # the email names the command ...
    requests_listed = _portal(url, "request", "list", "C1", "--json", app=None, env_app="small_crm.portal:services")
    assert requests_listed.returncode == 0, requests_listed.stderr
    assert [r["title"] for r in json.loads(requests_listed.stdout)["requests"]] == ["Leaking pipe"]
    moved = _portal(url, "request", "status", named.group(2), "in_progress", app=None,
                    env_app="small_crm.portal:services")  # ... and it works as named, with PORTAL_APP set
    assert moved.returncode == 0 and "in_progress" in moved.stdout, moved.stderr

    rotated = _portal(url, "link", "rotate", "C1")
    assert rotated.returncode == 0 and rotated.stdout.strip() != link
    assert homer.get(f"/p/{token}/").status_code == 404  # the old link is gone, its session with it

    refused = _portal(url, "access", "disable", "C2")
    assert refused.returncode == 2 and refused.stdout == ""
    assert "CRM" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("app", ["small_crm.portal", "no_such_module:services", "small_crm.portal:nothing",
                                 "small_crm.portal:BUSINESS", ".relative:services", "small_crm.crm:STATES"])
def test_a_bad_app_is_one_line_and_status_2(crm: tuple[str, Path], app: str) -> None:
    result = _portal(crm[0], "company", "list", app=app)
    assert result.returncode == 2 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_hostile_links_and_refs_find_nothing_and_never_fail(portal: tuple[object, Services, RecordingEmailSender],
                                                            crm: tuple[str, Path]) -> None:
    app, built, _sender = portal
    token = _link_token(built, "C1")
    client = app.test_client()  # type: ignore[attr-defined]
    for path in (f"/p/{token[:16]}%C3%A9/", f"/p/{token[:16]}é{token[17:]}/", "/p/0000000000000002%C3%A9/login",
                 f"/p/{token.upper()}/", f"/p/{token[:-1]}/"):
        assert client.get(path).status_code == 404, path
    with built.uow() as uow:
        for ref in ("C²", "C01", "C١", "C", "C-1", "C99999999999999999999", "P1"):
            assert uow.companies.get_by_ref(ref) is None, ref
    listed = _portal(crm[0], "request", "list", "C²")
    assert listed.returncode == 2 and "Traceback" not in listed.stderr
