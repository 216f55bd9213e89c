"""The business-side API (/api/v1) on SQLite and PostgreSQL: keys, records by ref with the seed's rules and messages,
the request and payment feeds, files, sending, the JSON errors, the rate limit as many callers at once, and the
OpenAPI document."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import threading
from typing import Any

import pytest
from flask.testing import FlaskClient
from openapi_spec_validator import validate
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from portal_core import api_keys
from portal_core.model.money import Money
from portal_core.model.payment import Payment, PaymentStatus, Provider

from .web_fixtures import NOW, WebPortal, db_portal, make_portal

__all__ = ["db_portal"]  # a fixture imported for pytest, not unused

INVOICE = {"number": "INV-7001", "status": "sent", "currency": "AED", "issued_date": "2026-11-01",
           "due_date": "2026-12-15", "tax": "5.00", "amount_paid": "0.00",
           "lines": [{"description": "Filter change", "quantity": "2", "unit_price": "50.00"}]}


class Api:
    """A CRM's HTTP client: the portal's test client with one API key."""

    def __init__(self, portal: WebPortal, key: str | None) -> None:
        self.portal = portal
        self.client: FlaskClient = portal.app.test_client()
        self.headers = {"Authorization": f"Bearer {key}"} if key else {}

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        if kwargs.get("content_type") == "multipart/form-data":
            # Encoded in memory: the test client would spool a large body to a temporary file it never closes.
            fields = {k: FileStorage(*v[:1], filename=v[1], content_type=v[2] if len(v) > 2 else None)
                      if isinstance(v, tuple) else v for k, v in kwargs.pop("data").items()}
            boundary, body = encode_multipart(fields)
            kwargs.update(data=body, content_type=f"multipart/form-data; boundary={boundary}")
        response = self.client.open("/api/v1" + path, method=method, headers=self.headers, **kwargs)
        assert "Set-Cookie" not in response.headers, "the API never sets a cookie"
        assert response.status_code < 500, response.get_data(as_text=True)
        if response.status_code != 204:
            assert response.mimetype == "application/json", (path, response.get_data(as_text=True)[:200])
        return response


def new_key(portal: WebPortal, name: str = "crm") -> str:
    s = portal.services
    return api_keys.create_key(s.uow(), secrets=s.api_key_secrets, randomness=s.randomness, clock=s.clock,
                               name=name)


@pytest.fixture
def portal(db_portal: WebPortal) -> WebPortal:
    return db_portal


@pytest.fixture
def api(portal: WebPortal) -> Api:
    return Api(portal, new_key(portal))


def error_of(response: Any) -> dict[str, Any]:
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "field"}, body
    return body["error"]  # type: ignore[no-any-return]


# ---- keys ---------------------------------------------------------------------------------------------------------

def test_no_key_a_wrong_key_and_a_revoked_key_are_each_a_401(portal: WebPortal) -> None:
    key = new_key(portal)
    assert Api(portal, key).call("GET", "/companies").status_code == 200
    near_miss = key[:-1] + ("A" if key[-1] != "A" else "B")
    for header in ({}, {"Authorization": f"Bearer {near_miss}"}, {"Authorization": "Bearer pk_" + "x" * 43},
                   {"Authorization": f"Basic {key}"}, {"Authorization": "Bearer"}, {"Authorization": key},
                   {"Authorization": "Bearer " + "k" * 5000}):
        response = portal.app.test_client().get("/api/v1/companies", headers=header)
        assert response.status_code == 401, header
        assert error_of(response)["code"] == "unauthorized"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    api_keys.revoke_key(portal.services.uow(), clock=portal.services.clock, name="crm")
    revoked = Api(portal, key).call("GET", "/companies")
    assert revoked.status_code == 401 and error_of(revoked)["code"] == "unauthorized"


def test_a_key_is_stored_only_as_a_keyed_hash_and_its_use_is_recorded(portal: WebPortal) -> None:
    key = new_key(portal, "books")
    with portal.services.uow() as uow:
        (stored,) = uow.api_keys.list()
    assert key not in repr(stored) and stored.key_hash != key and stored.last_used_at is None
    assert stored.key_hash == portal.services.api_key_secrets.hash(key)
    portal.clock.advance(minutes=5)
    Api(portal, key).call("GET", "/companies")
    with portal.services.uow() as uow:
        (used,) = uow.api_keys.list()
    assert used.last_used_at == NOW + dt.timedelta(minutes=5)


def test_the_portals_cookies_are_neither_read_nor_set(portal: WebPortal) -> None:
    """A signed-in client's browser carries the portal's cookies; they open nothing here."""
    signed_in = portal.sign_in("globex", "homer@globex.example")
    response = signed_in.client.get("/api/v1/companies")
    assert response.status_code == 401 and "Set-Cookie" not in response.headers


# ---- companies and links ------------------------------------------------------------------------------------------

def test_companies_are_listed_read_created_and_updated_by_ref(api: Api) -> None:
    listed = api.call("GET", "/companies").get_json()
    assert {"ref": "globex", "name": "Globex LLC", "portal_enabled": True} in listed["data"]
    assert listed["next_cursor"] is None
    assert api.call("GET", "/companies/globex").get_json()["name"] == "Globex LLC"
    created = api.call("PUT", "/companies/wayne", json={"name": "Wayne Enterprises", "portal_enabled": False})
    assert created.status_code == 201
    assert created.get_json() == {"ref": "wayne", "name": "Wayne Enterprises", "portal_enabled": False}
    updated = api.call("PUT", "/companies/wayne", json={"name": "Wayne Ent.", "portal_enabled": True, "ref": "wayne"})
    assert updated.status_code == 200 and updated.get_json()["portal_enabled"] is True
    missing = api.call("GET", "/companies/no-such-company")
    assert missing.status_code == 404 and error_of(missing)["code"] == "not_found"


def test_the_link_is_read_and_rotated_and_the_old_one_stops_working(api: Api, portal: WebPortal) -> None:
    old = api.call("GET", "/companies/globex/link").get_json()["url"]
    assert old == f"{portal.services.settings.base_url}/p/{portal.token('globex')}"
    new = api.call("POST", "/companies/globex/link/rotate").get_json()["url"]
    assert new != old and new.endswith(portal.token("globex"))
    assert portal.app.test_client().get(old.removeprefix(portal.services.settings.base_url) + "/login").status_code \
        == 404


# ---- records by ref, with the seed's rules ------------------------------------------------------------------------

def test_an_invoice_is_created_then_updated_and_clients_see_it(api: Api, portal: WebPortal) -> None:
    created = api.call("PUT", "/companies/globex/invoices/crm-7001", json=INVOICE)
    assert created.status_code == 201
    assert created.get_json() == {**INVOICE, "ref": "crm-7001", "job": None}
    updated = api.call("PUT", "/companies/globex/invoices/crm-7001", json={**INVOICE, "amount_paid": "20.00"})
    assert updated.status_code == 200
    homer = portal.sign_in("globex", "homer@globex.example")
    page = homer.get(f"/invoices/{portal.id_of('invoices', 'crm-7001')}").text
    assert "INV-7001" in page and "AED 85.00" in page  # 2 × 50.00 + 5.00 tax − 20.00 paid


@pytest.mark.parametrize(("change", "field", "message"), [
    ({"status": "overdue"}, "$.status", "$.status: unknown status 'overdue'"),
    ({"due_date": "2026-13-01"}, "$.due_date", "$.due_date: '2026-13-01' is not an ISO 8601 date"),
    ({"number": 7001}, "$.number", "invalid value for type, expected str @ $.number"),
    ({"colour": "red"}, "$", "extra fields found (colour) @ $"),
    ({"ref": "another-ref"}, "$.ref", "$.ref: the body names 'another-ref' but the path names 'crm-7001'"),
    ({"due_date": "2026-10-01"}, "$", "due date 2026-10-01 is before issue date 2026-11-01"),
    ({"job": "initech-j1"}, "$", "job 'initech-j1' is not a job of company 'globex'"),
    ({"tax": 5}, "$.tax", "expected str @ $.tax"),
])
def test_what_the_seed_refuses_is_a_422_naming_the_field(api: Api, portal: WebPortal, change: dict[str, Any],
                                                        field: str, message: str) -> None:
    response = api.call("PUT", "/companies/globex/invoices/crm-7001", json={**INVOICE, **change})
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "invalid" and error["field"] == field and message in error["message"], error
    with portal.services.uow() as uow:
        assert uow.invoices.get_by_ref("crm-7001") is None, "nothing was written"


@pytest.mark.parametrize(("change", "field"), [
    ({"lines": [{"description": "x", "quantity": "1", "unit_price": "1.005"}]}, "$.lines[0].unit_price"),
    ({"lines": [{"description": "x", "quantity": "lots", "unit_price": "1.00"}]}, "$.lines[0].quantity"),
    ({"currency": "DOLLARS"}, "$.currency"),
    ({"tax": "1e30"}, "$.tax"),
    ({"amount_paid": "99999999999999999999999"}, "$.amount_paid"),
    ({"lines": [{"description": "x", "quantity": "1e999999", "unit_price": "1.00"}]}, "$.lines[0].quantity"),
    ({"lines": [{"description": "x", "quantity": "999999999", "unit_price": "999999999999.00"}]}, "$"),
    ({"number": "N" * 65}, "$.number"),
    ({"number": "INV\u0000"}, "$.number"),
    ({"number": "\ud800"}, "$.number"),
    ({"lines": [{"description": "\udfff", "quantity": "1", "unit_price": "1.00"}]}, "$.lines[0].description"),
])
def test_hostile_values_are_refused_at_their_key_not_a_500(api: Api, change: dict[str, Any], field: str) -> None:
    body = json.dumps({**INVOICE, **change})  # NUL and lone surrogates travel as JSON escapes (\\u0000)
    response = api.call("PUT", "/companies/globex/invoices/crm-7001", data=body, content_type="application/json")
    assert response.status_code == 422, response.get_data(as_text=True)
    assert error_of(response)["field"] == field, error_of(response)


def test_hostile_shapes_and_cursors_are_refused_not_a_500(api: Api) -> None:
    long_ref = api.call("PUT", "/companies/globex/projects/" + "r" * 256, json={"name": "Annex"})
    assert long_ref.status_code == 422 and error_of(long_ref)["field"] == "$.ref"
    deep = api.call("PUT", "/companies/globex/projects/p1", data="[" * 5000 + "]" * 5000,
                    content_type="application/json")
    assert deep.status_code == 400
    for cursor in ("0001-01-01T00:00:00+05:00|x", "9999-12-31T23:59:59-05:00|x", "2026-12-01T09:00:00+00:00|a\x00b",
                   "2026-12-01T09:00:00|x", "|", "x" * 500):
        encoded = base64.urlsafe_b64encode(cursor.encode()).decode()
        for feed in ("/requests", "/payments"):
            response = api.call("GET", feed, query_string={"since": encoded})
            assert response.status_code == 422 and error_of(response)["field"] == "since", (cursor, feed)


def test_a_ref_of_another_companys_record_is_refused(api: Api) -> None:
    response = api.call("PUT", "/companies/initech/invoices/globex-i1", json=INVOICE)
    assert response.status_code == 422
    assert "already names a record of another company" in error_of(response)["message"]
    unknown = api.call("PUT", "/companies/no-such-company/invoices/x", json=INVOICE)
    assert unknown.status_code == 404


def test_malformed_and_oversized_bodies(api: Api) -> None:
    malformed = api.call("PUT", "/companies/globex/invoices/x", data="{not json", content_type="application/json")
    assert malformed.status_code == 400 and error_of(malformed)["code"] == "malformed_json"
    not_json = api.call("PUT", "/companies/globex/invoices/x", data="number=1",
                        content_type="application/x-www-form-urlencoded")
    assert not_json.status_code == 400
    array = api.call("PUT", "/companies/globex/invoices/x", json=[INVOICE])
    assert array.status_code == 422 and error_of(array)["field"] == "$"
    huge = api.call("PUT", "/companies/globex/invoices/x", data=b"[" + b"1," * (1 << 20) + b"1]",
                    content_type="application/json")
    assert huge.status_code == 413 and error_of(huge)["code"] == "too_large"
    assert api.call("GET", "/no-such-thing").status_code == 404
    wrong_method = api.call("DELETE", "/companies")
    assert wrong_method.status_code == 405 and "GET" in wrong_method.headers["Allow"]


@pytest.mark.parametrize(("kind", "ref", "body"), [
    ("quotes", "crm-q9", {"number": "Q-9", "status": "sent", "currency": "KWD", "issued_date": "2026-11-20",
                          "valid_until": "2026-12-20",
                          "lines": [{"description": "Survey", "quantity": "1", "unit_price": "12.345"}]}),
    ("projects", "crm-p9", {"name": "Annex", "status": "active"}),
    ("jobs", "crm-j9", {"title": "Duct cleaning", "status": "scheduled", "project": "globex-p1",
                        "scheduled_start": "2026-12-03", "scheduled_end": "2026-12-04"}),
    ("tasks", "crm-t9", {"title": "Order filters", "status": "open", "job": "globex-j1", "due_date": "2026-12-02"}),
    ("contacts", "crm-c9", {"name": "Bart Simpson", "email": "bart@globex.example", "language": "ar"}),
])
def test_each_kind_of_record_is_upserted_by_ref(api: Api, portal: WebPortal, kind: str, ref: str,
                                                body: dict[str, Any]) -> None:
    assert api.call("PUT", f"/companies/globex/{kind}/{ref}", json=body).status_code == 201
    again = api.call("PUT", f"/companies/globex/{kind}/{ref}", json=body)
    assert again.status_code == 200
    assert {k: again.get_json()[k] for k in body} == body  # read back from the store, not echoed
    portal.id_of(kind, ref)  # stored, under the CRM's ref


def test_the_answer_is_the_record_as_stored(api: Api) -> None:
    contact = {"name": "Bart Simpson", "email": "bart@globex.example", "language": "ar"}
    assert api.call("PUT", "/companies/globex/contacts/bart", json=contact).status_code == 201
    kept = api.call("PUT", "/companies/globex/contacts/bart", json={"name": "Bart", "email": "bart@globex.example"})
    assert kept.get_json()["language"] == "ar", "a language the body leaves out is kept, and said so"
    product = api.call("PUT", "/products/kwd-visit", json={"name": "Visit", "unit_price": "1.5", "currency": "kwd"})
    assert product.get_json()["unit_price"] == "1.500" and product.get_json()["currency"] == "KWD"


def test_a_contact_is_removed_by_ref_and_their_session_ends(api: Api, portal: WebPortal) -> None:
    homer = portal.sign_in("globex", "homer@globex.example")
    assert homer.get("/").status_code == 200
    assert api.call("DELETE", "/companies/initech/contacts/homer").status_code == 404  # not Initech's
    assert api.call("DELETE", "/companies/globex/contacts/homer").status_code == 204
    assert homer.get("/").status_code == 303  # to the sign-in page
    assert api.call("DELETE", "/companies/globex/contacts/homer").status_code == 404


def test_a_product_is_upserted(api: Api) -> None:
    body = {"name": "Maintenance visit", "unit_price": "250.000", "currency": "BHD", "description": "Per visit"}
    assert api.call("PUT", "/products/crm-visit", json=body).status_code == 201
    changed = api.call("PUT", "/products/crm-visit", json={**body, "unit_price": "275.000"})
    assert changed.status_code == 200 and changed.get_json()["unit_price"] == "275.000"
    refused = api.call("PUT", "/products/crm-visit", json={**body, "currency": "DOLLARS"})
    assert refused.status_code == 422 and "unknown currency" in error_of(refused)["message"]


# ---- sending, voiding, files --------------------------------------------------------------------------------------

def test_invoices_and_quotes_are_sent_and_voided_with_the_clis_rules(api: Api, portal: WebPortal) -> None:
    api.call("PUT", "/companies/globex/invoices/crm-7001", json={**INVOICE, "status": "draft"})
    sent = api.call("POST", "/invoices/crm-7001/send")
    assert sent.status_code == 200
    assert sent.get_json() == {"ref": "crm-7001", "number": "INV-7001", "status": "sent", "changed": True,
                               "notified": 2, "not_delivered": 0}
    assert any("INV-7001" in str(mail.subject) for mail in portal.sender.outbox)
    assert api.call("POST", "/quotes/globex-q1/send").status_code == 200
    voided = api.call("POST", "/invoices/crm-7001/void")
    assert voided.status_code == 200 and voided.get_json()["status"] == "void"
    paid = api.call("POST", "/invoices/globex-i3/void")  # paid in full: voiding it is refused, as on the CLI
    assert paid.status_code == 422 and error_of(paid)["code"] == "invalid"
    assert api.call("POST", "/invoices/no-such-invoice/send").status_code == 404


def test_a_file_is_attached_downloaded_by_its_id_and_detached(api: Api, portal: WebPortal) -> None:
    data = b"%PDF-1.4 service report"
    posted = api.call("POST", "/files", data={"file": (io.BytesIO(data), "report.pdf", "application/pdf"),
                                              "job": "globex-j1", "name": "Service report.pdf"},
                      content_type="multipart/form-data")
    assert posted.status_code == 201
    file_id = posted.get_json()["id"]
    homer = portal.sign_in("globex", "homer@globex.example")
    download = homer.get(f"/files/{file_id}/download")
    assert download.status_code == 200 and download.data == data
    both = api.call("POST", "/files", data={"file": (io.BytesIO(data), "x.pdf"), "job": "globex-j1",
                                            "invoice": "globex-i1"}, content_type="multipart/form-data")
    assert both.status_code == 422 and error_of(both)["field"] == "job"
    foreign = api.call("POST", "/files", data={"file": (io.BytesIO(data), "x.pdf"), "job": "no-such-job"},
                       content_type="multipart/form-data")
    assert foreign.status_code == 404
    assert api.call("DELETE", f"/files/{file_id}").status_code == 204
    assert homer.get(f"/files/{file_id}/download").status_code == 404


def test_files_may_be_larger_than_json_bodies_up_to_their_own_limit(database_url: str) -> None:
    portal = make_portal(database_url=database_url, max_upload_mb=2)
    try:
        api = Api(portal, new_key(portal))
        ok = api.call("POST", "/files", data={"file": (io.BytesIO(b"x" * (3 << 19)), "big.bin"), "job": "globex-j1"},
                      content_type="multipart/form-data")
        assert ok.status_code == 201  # 1.5 MiB: over the JSON limit, under the files' own
        too_big = api.call("POST", "/files", data={"file": (io.BytesIO(b"x" * (5 << 19)), "big.bin"),
                                                   "job": "globex-j1"}, content_type="multipart/form-data")
        assert too_big.status_code == 413 and error_of(too_big)["code"] == "too_large"
    finally:
        portal.services.close()


# ---- feeds --------------------------------------------------------------------------------------------------------

def _submit_request(portal: WebPortal, title: str) -> None:
    """A request of Globex's, stamped with the portal's clock (as the request form would)."""
    portal.seed({"companies": [{"ref": "globex", "name": "Globex LLC", "portal_enabled": True, "requests": [
        {"ref": title, "title": title, "details": "Details of " + title, "status": "new", "submitted_by": "homer"}]}]})


def test_the_requests_feed_reads_on_from_its_cursor(api: Api, portal: WebPortal) -> None:
    assert api.call("GET", "/requests").get_json() == {"data": [], "next_cursor": None}, "held back for a minute"
    portal.clock.advance(seconds=60)
    first = api.call("GET", "/requests").get_json()
    assert [r["title"] for r in first["data"]] == ["Noisy unit on floor 3"]
    assert first["data"][0]["company"] == "globex" and first["data"][0]["submitted_by"] == "homer"
    cursor = first["next_cursor"]
    nothing = api.call("GET", "/requests", query_string={"since": cursor}).get_json()
    assert nothing == {"data": [], "next_cursor": None}
    portal.clock.advance(minutes=1)
    _submit_request(portal, "Leak under the sink")
    portal.clock.advance(minutes=1)
    _submit_request(portal, "Thermostat reads 40")
    # The newer one may still be in a transaction that commits late: a cursor never passes it.
    sooner = api.call("GET", "/requests", query_string={"since": cursor}).get_json()
    assert [r["title"] for r in sooner["data"]] == ["Leak under the sink"]
    portal.clock.advance(seconds=60)
    later = api.call("GET", "/requests", query_string={"since": cursor}).get_json()
    assert [r["title"] for r in later["data"]] == ["Leak under the sink", "Thermostat reads 40"]
    request_id = later["data"][0]["id"]
    patched = api.call("PATCH", f"/requests/{request_id}", json={"status": "in_progress"})
    assert patched.status_code == 200 and patched.get_json()["status"] == "in_progress"
    refused = api.call("PATCH", f"/requests/{request_id}", json={"status": "finished"})
    assert refused.status_code == 422 and error_of(refused)["field"] == "$.status"
    assert api.call("PATCH", f"/requests/{request_id}", json={"title": "x"}).status_code == 422
    assert api.call("PATCH", "/requests/no-such-request", json={"status": "closed"}).status_code == 404
    bad = api.call("GET", "/requests", query_string={"since": "not-a-cursor"})
    assert bad.status_code == 422 and error_of(bad)["field"] == "since"


def test_the_payments_feed_lists_each_confirmed_payment_per_invoice(api: Api, portal: WebPortal) -> None:
    assert api.call("GET", "/payments").get_json() == {"data": [], "next_cursor": None}
    invoice_id = portal.id_of("invoices", "globex-i1")
    with portal.services.uow() as uow:
        invoice = uow.invoices.get(invoice_id)
        assert invoice is not None
        for n, status in enumerate((PaymentStatus.SUCCEEDED, PaymentStatus.PENDING, PaymentStatus.FAILED)):
            uow.payments.add(Payment(
                id=f"pay{n}", invoice_id=invoice.id, company_id=invoice.company_id, contact_id=None,
                provider=Provider.STRIPE, amount=Money(36000, "AED"), status=status, attempt_key=f"attempt-{n}",
                created_at=NOW, provider_ref=f"cs_test_{n}",
                settled_at=NOW + dt.timedelta(seconds=n) if status == PaymentStatus.SUCCEEDED else None))
        uow.commit()
    portal.clock.advance(seconds=60)
    feed = api.call("GET", "/payments").get_json()
    assert feed["data"] == [{"invoice": "globex-i1", "number": "INV-2001", "amount": "360.00", "currency": "AED",
                             "provider": "stripe", "provider_reference": "cs_test_0",
                             "paid_at": NOW.isoformat()}]
    assert api.call("GET", "/payments", query_string={"since": feed["next_cursor"]}).get_json()["data"] == []


# ---- the limit, as many callers at once ---------------------------------------------------------------------------

@pytest.mark.parametrize("limit", [5])
def test_the_rate_limit_holds_for_parallel_callers(database_url: str, limit: int) -> None:
    """Twenty calls at once with one key, from separate clients (threads, each its own connection): exactly
    `limit` get through, the rest are 429 with Retry-After; another key is not held back."""
    portal = make_portal(database_url=database_url, api_rate_per_minute=limit)
    try:
        key, other = new_key(portal, "crm"), new_key(portal, "books")
        start = threading.Barrier(20)
        statuses: list[int] = []
        retry_after: list[str | None] = []

        def call() -> None:
            client = Api(portal, key)
            start.wait()
            response = client.call("GET", "/companies")
            statuses.append(response.status_code)
            retry_after.append(response.headers.get("Retry-After"))

        threads = [threading.Thread(target=call) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(statuses) == [200] * limit + [429] * (20 - limit), statuses
        assert all(after and int(after) > 0 for after, status in zip(retry_after, statuses, strict=True)
                   if status == 429)
        assert Api(portal, other).call("GET", "/companies").status_code == 200
        portal.clock.advance(minutes=1, seconds=1)
        assert Api(portal, key).call("GET", "/companies").status_code == 200  # a new minute
    finally:
        portal.services.close()


# ---- the document -------------------------------------------------------------------------------------------------

def test_the_openapi_document_is_valid_31_public_and_covers_every_route(portal: WebPortal) -> None:
    response = portal.app.test_client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    assert spec["openapi"].startswith("3.1")
    validate(spec)
    documented = {(method.upper(), "/api/v1" + path) for path, item in spec["paths"].items() for method in item}
    routed = {(method, str(rule).replace("<", "{").replace(">", "}"))
              for rule in portal.app.url_map.iter_rules() if str(rule).startswith("/api/v1")
              for method in rule.methods or () if method not in ("HEAD", "OPTIONS")}
    assert documented == routed
    invoice_body = spec["paths"]["/companies/{ref}/invoices/{item_ref}"]["put"]["requestBody"]
    schema = invoice_body["content"]["application/json"]["schema"]
    assert "ref" not in schema["properties"] and {"number", "status", "currency"} <= set(schema["required"])
    assert schema["properties"]["lines"]["items"] == {"$ref": "#/components/schemas/SeedLine"}
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if path != "/openapi.json":
                assert "429" in op["responses"] and "401" in op["responses"], (method, path)
