"""The worked example of examples/legacy_crm: the portal, unchanged, over a CRM database it does not own."""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from legacy_crm.adapters import unit_of_work_factory
from legacy_crm.database import add_portal_tables, create_crm_database, legacy_engine
from legacy_crm.portal import portal_over_crm
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from adapters.memory import FixedClock, RecordingEmailSender, SeededRandomness
from entrypoints.bootstrap import Services
from portal_core import browsing, companies, policy, sending
from portal_core.errors import CrmOwnedRecord
from portal_core.ids import OpaqueIds
from portal_core.model.contact import email_key
from portal_core.model.documents import InvoiceStatus
from portal_core.model.money import Money
from portal_core.sign_in import Viewer
from portal_core.testing.contract import RepositoryReadContract, UowFactory
from portal_core.testing.leaks import Expectations
from tests.support.portal_app import csrf_of, outbox_code, sign_in

SECRET = "legacy-crm-test-secret-0123456789"
NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def crm_url(tmp_path: Path) -> str:
    """The CRM's database from its own schema.sql and sample_data.sql, with the portal's tables added beside."""
    url = create_crm_database(tmp_path / "crm.db")
    add_portal_tables(url)
    return url


@pytest.fixture
def make_crm_uow(crm_url: str) -> Iterator[UowFactory]:
    engine = legacy_engine(crm_url)
    yield unit_of_work_factory(engine, OpaqueIds.from_secret(SECRET))
    engine.dispose()


class TestLegacyCrmRepositories(RepositoryReadContract):
    """The read rules of the contract, over the CRM's sample data (the CRM writes its records, not the portal)."""

    @pytest.fixture
    def make_uow(self, make_crm_uow: UowFactory) -> UowFactory:
        return make_crm_uow

    @pytest.fixture
    def expectations(self) -> Expectations:
        """What sample_data.sql says, as the CRM's developer reads it (portal_flag, bill states, amounts paid)."""
        return Expectations(
            companies={"GLOBEX": True, "INITECH": False},
            invoices={"B-1001": (InvoiceStatus.SENT, 0), "B-1002": (InvoiceStatus.PARTIALLY_PAID, 5000),
                      "B-1003": (InvoiceStatus.PAID, 50000), "B-1004": (InvoiceStatus.DRAFT, 0),
                      "B-1005": (InvoiceStatus.VOID, 0)},
            jobs={"WO-501": None, "WO-601": None})  # the CRM has no projects


def test_decimal_amounts_become_exact_minor_units_in_0_2_and_3_decimal_currencies(make_crm_uow: UowFactory) -> None:
    with make_crm_uow() as uow:
        aed, kwd, jpy = (uow.invoices.get_by_ref(code) for code in ("B-1001", "B-1002", "B-1003"))
        product = uow.products.get_by_ref("SVC-DUCT")
    assert aed is not None and kwd is not None and jpy is not None and product is not None
    assert [line.amount for line in aed.lines] == [Money(30000, "AED"), Money(6000, "AED")]  # 3 x 100, 1.5 x 40
    assert (aed.tax, aed.total) == (Money(1800, "AED"), Money(37800, "AED"))
    assert (kwd.total, kwd.amount_paid, kwd.outstanding) == (Money(12962, "KWD"), Money(5000, "KWD"),
                                                             Money(7962, "KWD"))
    assert kwd.status == InvoiceStatus.PARTIALLY_PAID
    assert (jpy.total, jpy.status) == (Money(50000, "JPY"), InvoiceStatus.PAID)
    assert product.unit_price == Money(7550, "AED")


def test_ids_are_opaque_and_map_back_to_the_crm_keys(make_crm_uow: UowFactory) -> None:
    ids = OpaqueIds.from_secret(SECRET)
    with make_crm_uow() as uow:
        companies = uow.companies.list()
        bill = uow.invoices.get_by_ref("B-1001")
    assert bill is not None and ids.key("bill", bill.id) == 1001
    for record_id in [c.id for c in companies] + [bill.id]:
        assert re.fullmatch(r"[0-9a-f]{16}", record_id) and not record_id.lstrip("0").isdigit()
    assert ids.public("bill", 1001) != ids.public("work_order", 1001)
    assert OpaqueIds.from_secret("another-secret-entirely").public("bill", 1001) != bill.id


def test_what_the_crm_holds_maps_to_what_the_portal_may_show(make_crm_uow: UowFactory) -> None:
    with make_crm_uow() as uow:
        companies = {c.ref: c for c in uow.companies.list()}
        globex = companies["GLOBEX"]
        contacts = uow.contacts.list_for_company(globex.id)
        marge = uow.contacts.find(globex.id, email_key("marge@globex.EXAMPLE"))
        homer_elsewhere = uow.contacts.find(companies["INITECH"].id, email_key("homer@globex.example"))
        projects = uow.projects.list_for_company(globex.id)
    # Umbrella has no portal key (never set up); Initech is set up but switched off.
    assert set(companies) == {"GLOBEX", "INITECH"}
    assert globex.portal_enabled and not companies["INITECH"].portal_enabled
    # Archived people and unusable mail fields ('n/a', NULL) are nobody the portal can sign in.
    assert [k.name for k in contacts] == ["Homer Simpson", "Marge Simpson"]
    assert marge is not None and marge.email == "Marge@Globex.Example"
    assert homer_elsewhere is not None and homer_elsewhere.company_id == companies["INITECH"].id
    assert projects == []  # the CRM has none


def test_writes_to_crm_records_are_refused_with_a_clear_error(make_crm_uow: UowFactory) -> None:
    with pytest.raises(CrmOwnedRecord, match="change them in the CRM"):
        companies.set_portal_access(make_crm_uow(), "INITECH", enabled=True)
    with pytest.raises(CrmOwnedRecord):
        companies.add_contact(make_crm_uow(), randomness=SeededRandomness(), company_key="GLOBEX", name="Bart",
                              email="bart@globex.example")
    with make_crm_uow() as uow:
        initech = uow.companies.get_by_ref("INITECH")
    assert initech is not None and not initech.portal_enabled


# ---- the bundled Flask portal over the CRM


@pytest.fixture
def crm_portal(crm_url: str) -> Iterator[tuple[Flask, Services, RecordingEmailSender]]:
    sender = RecordingEmailSender()
    app, services = portal_over_crm(crm_url, secret_key=SECRET, synchronous_mail=True, email_sender=sender,
                                    clock=FixedClock(NOW))
    yield app, services, sender
    services.close()


def test_a_contact_signs_in_and_sees_the_crm_bills_on_the_invoices_page(
        crm_portal: tuple[Flask, Services, RecordingEmailSender]) -> None:
    app, services, sender = crm_portal
    with services.uow() as uow:
        globex = uow.companies.get_by_ref("GLOBEX")
        kwd_bill = uow.invoices.get_by_ref("B-1002")
    assert globex is not None and kwd_bill is not None
    client = app.test_client()
    # Typed as nobody typed it into the CRM; the code goes to the address the CRM holds.
    sign_in(client, globex.link_token, "  MARGE@globex.example", lambda _typed: outbox_code(sender)(
        "Marge@Globex.Example"))

    page = client.get(f"/p/{globex.link_token}/invoices")
    assert page.status_code == 200
    for shown in ("B-1001", "B-1002", "B-1003", "12.962"):
        assert shown in page.text
    for hidden in ("B-1004", "B-1005", "B-2001"):  # a draft, a cancelled bill, another customer's bill
        assert hidden not in page.text

    detail = client.get(f"/p/{globex.link_token}/invoices/{kwd_bill.id}")
    assert detail.status_code == 200 and "7.962" in detail.text
    other = client.get(f"/p/{globex.link_token}/invoices/{OpaqueIds.from_secret(SECRET).public('bill', 2001)}")
    assert other.status_code == 404


def test_the_crm_turning_access_off_and_on_leaves_every_older_session_dead(
        crm_portal: tuple[Flask, Services, RecordingEmailSender], crm_url: str) -> None:
    app, services, sender = crm_portal
    with services.uow() as uow:
        globex = uow.companies.get_by_ref("GLOBEX")
    assert globex is not None
    client = app.test_client()
    sign_in(client, globex.link_token, "homer@globex.example", outbox_code(sender))
    assert client.get(f"/p/{globex.link_token}/").status_code == 200
    path = crm_url.removeprefix("sqlite:///")
    for flag in (0, 1):  # the CRM's own code, outside the portal; no request comes while access is off
        with sqlite3.connect(path) as connection:
            connection.execute("UPDATE customers SET portal_flag = ? WHERE account_code = 'GLOBEX'", (flag,))
        connection.close()
    back = client.get(f"/p/{globex.link_token}/")
    assert back.status_code == 303 and back.headers["Location"].endswith("/login")  # ended for good


def test_files_and_requests_work_over_the_crm(crm_portal: tuple[Flask, Services, RecordingEmailSender]) -> None:
    app, services, sender = crm_portal
    with services.uow() as uow:
        globex = uow.companies.get_by_ref("GLOBEX")
        job = uow.jobs.get_by_ref("WO-501")
        assert globex is not None and job is not None
        survey = uow.files.list_for_company(globex.id, job_id=job.id)[0]
    client = app.test_client()
    token = globex.link_token
    sign_in(client, token, "homer@globex.example", outbox_code(sender))

    download = client.get(f"/p/{token}/files/{survey.id}/download")
    assert download.status_code == 200 and download.data == b"%PDF-1.4\n"

    form = client.get(f"/p/{token}/requests/new").text
    form_token = re.search(r'name="form_token" value="([^"]+)"', form)
    assert form_token
    sent = client.post(f"/p/{token}/requests/new", data={"csrf_token": csrf_of(form), "form_token": form_token[1],
                                                         "title": "Noisy unit", "details": "Since Monday."})
    assert sent.status_code == 303
    with services.uow() as uow:  # kept in the portal's own table, naming the CRM's customer by its public id
        stored = uow.requests.list_for_company(globex.id)
    assert [r.title for r in stored] == ["Noisy unit"]
    assert "Noisy unit" in client.get(f"/p/{token}/requests").text


def test_the_crm_sends_an_issued_bill_through_the_portals_use_case(
        crm_portal: tuple[Flask, Services, RecordingEmailSender]) -> None:
    """The CRM marks the bill issued in its own table, then calls send_invoice: the portal mails every contact."""
    _app, services, sender = crm_portal
    outcome = sending.send_invoice(services.uow(), sender=services.email_sender, templates=services.templates,
                                   clock=services.clock, randomness=services.randomness,
                                   base_url="https://portal.acme.example", ref="B-1001")
    assert not outcome.changed  # the bill's state is the CRM's: nothing to write
    assert sorted((d.email, d.problem) for d in outcome.deliveries) == [("Marge@Globex.Example", None),
                                                                        ("homer@globex.example", None)]
    assert "B-1001" in sender.to("homer@globex.example")[-1].subject


def test_the_portal_mounts_inside_the_crms_own_flask_app(crm_url: str) -> None:
    """docs/embedding.md: DispatcherMiddleware puts the portal under /portal of the CRM's own app."""
    sender = RecordingEmailSender()
    portal, services = portal_over_crm(crm_url, secret_key=SECRET, base_url="http://localhost/portal",
                                       synchronous_mail=True, email_sender=sender, clock=FixedClock(NOW))
    crm = Flask("crm")
    crm.add_url_rule("/", "home", lambda: "the CRM")
    crm.wsgi_app = DispatcherMiddleware(crm.wsgi_app, {"/portal": portal.wsgi_app})  # type: ignore[method-assign]
    client = crm.test_client()
    with services.uow() as uow:
        globex = uow.companies.get_by_ref("GLOBEX")
    assert globex is not None
    base = f"/portal/p/{globex.link_token}"
    assert client.get("/").text == "the CRM"
    login = client.get(f"{base}/login")
    assert f'action="{base}/login"' in login.text
    sent = client.post(f"{base}/login", data={"email": "homer@globex.example", "csrf_token": csrf_of(login.text)})
    assert sent.headers["Location"] == f"{base}/verify"
    verify = client.get(f"{base}/verify")
    done = client.post(f"{base}/verify", data={"code": outbox_code(sender)("homer@globex.example"),
                                               "csrf_token": csrf_of(verify.text)})
    assert done.headers["Location"] == f"{base}/"
    assert "B-1001" in client.get(f"{base}/invoices").text
    services.close()


def test_the_access_policy_recipe_of_the_embedding_guide_holds_over_the_crm(make_crm_uow: UowFactory) -> None:
    """docs/embedding.md, section 7: every contact sees only its company's client-visible invoices."""
    with make_crm_uow() as uow:
        pairs = [(c, k) for c in uow.companies.list() for k in uow.contacts.list_for_company(c.id)]
    assert len(pairs) == 4
    seen = 0
    for company, contact in pairs:
        viewer = Viewer(company=company, contact=contact, session_id="property-test")
        page = browsing.list_invoices(make_crm_uow(), viewer, today=NOW.date())
        for view in page.items:
            assert view.invoice.company_id == company.id
            assert view.invoice.status in policy.CLIENT_VISIBLE_INVOICE_STATUSES
            assert company.portal_enabled
            seen += 1
    assert seen == 6  # B-1001..B-1003, for Homer and for Marge; nothing of Initech (disabled)
