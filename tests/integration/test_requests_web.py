"""The Requests section through Flask's test client: the form, its validation, double submits, and the notice."""

from __future__ import annotations

import html
import re

import pytest
from markupsafe import escape

from adapters.memory import RecordingEmailSender
from portal_core import client_requests
from portal_core.model.documents import RequestStatus

from .files_fixtures import (
    FilesPortal,
    SignedIn,
    csrf_of,
    files_portal,
    form_token_of,
    homer,
    marge,
    outbox,
    peter,
)

__all__ = ["files_portal", "homer", "marge", "outbox", "peter"]  # fixtures imported for pytest, not unused

BUSINESS = "office@falcon.example"


def _business_mail(outbox: RecordingEmailSender) -> list:  # type: ignore[type-arg]
    return [e for e in outbox.outbox if "request" in e.subject.lower()]


def _stored(files_portal: FilesPortal) -> list:  # type: ignore[type-arg]
    company = files_portal.id_of("companies", "globex")
    with files_portal.services.uow() as uow:
        return uow.requests.list_for_company(company)


def _form(who: SignedIn) -> dict[str, str]:
    page = who.get("/requests/new")
    assert page.status_code == 200
    return {"csrf_token": csrf_of(page.text), "form_token": form_token_of(page.text)}


def _post(who: SignedIn, data: dict[str, str]):  # type: ignore[no-untyped-def]
    return who.client.post(who.url("/requests/new"), data=data, buffered=True)


def test_the_form_has_its_fields(homer: SignedIn) -> None:
    page = homer.get("/requests/new").text
    for field in ('name="title"', 'name="details"', 'name="csrf_token"', 'name="form_token"', 'for="title"',
                  'for="details"'):
        assert field in page


def test_a_valid_request_is_stored_notified_and_confirmed(files_portal: FilesPortal, homer: SignedIn,
                                                          outbox: RecordingEmailSender) -> None:
    before = len(_stored(files_portal))
    response = _post(homer, {**_form(homer), "title": "  Leaking pipe  ", "details": "Kitchen, since Monday.\nUrgent."})
    assert response.status_code == 303
    location = response.headers["Location"]
    assert "/requests/" in location
    requests = _stored(files_portal)
    assert len(requests) == before + 1
    new = next(r for r in requests if r.title == "Leaking pipe")
    assert new.status == RequestStatus.NEW and new.details == "Kitchen, since Monday.\nUrgent."
    assert location.endswith(f"/requests/{new.id}")
    with files_portal.services.uow() as uow:
        homer_contact = uow.contacts.get_by_ref("homer")
    assert homer_contact is not None and new.submitted_by == homer_contact.id

    detail = homer.client.get(location, buffered=True)
    assert detail.status_code == 200
    assert "Your request was sent" in detail.text and "Leaking pipe" in detail.text
    assert "Homer Simpson" in detail.text
    # The confirmation shows once.
    assert "Your request was sent" not in homer.client.get(location, buffered=True).text

    mail = [e for e in outbox.to(BUSINESS)]
    assert len(mail) == 1
    email = mail[0]
    for text in (email.subject, email.text):
        assert "Globex LLC" in text and "Leaking pipe" in text
    assert "Homer Simpson" in email.text and "homer@globex.example" in email.text
    assert "Homer Simpson" in email.html and "Leaking pipe" in email.html
    assert email.reply_to == "homer@globex.example"


def test_the_company_shares_its_requests_between_contacts(files_portal: FilesPortal, homer: SignedIn,
                                                          marge: SignedIn, peter: SignedIn) -> None:
    response = _post(homer, {**_form(homer), "title": "Homer's request", "details": "Details."})
    listing = marge.get("/requests").text
    assert "Homer&#39;s request" in listing and "Noisy unit on floor 3" in listing
    row = re.search(r"<tr>\s*<th[^>]*><a [^>]*>Homer&#39;s request</a></th>\s*<td[^>]*>(.*?)</td>", listing, re.S)
    assert row and re.sub(r"<[^>]+>", "", row.group(1)).strip() == "New", "the new request's status cell says New"
    assert marge.client.get(response.headers["Location"], buffered=True).status_code == 200
    request_id = response.headers["Location"].rsplit("/", 1)[1]
    assert peter.get(f"/requests/{request_id}").status_code == 404
    assert "Homer&#39;s request" not in peter.get("/requests").text


@pytest.mark.parametrize(("title", "details", "bad"), [
    ("", "Some details", {"title"}),
    ("   \t  ", "Some details", {"title"}),
    ("x" * 201, "Some details", {"title"}),
    ("A title", "", {"details"}),
    ("A title", "  \n ", {"details"}),
    ("A title", "d" * 5001, {"details"}),
    ("", "", {"title", "details"}),
])
def test_bad_input_reshows_the_form_and_stores_and_sends_nothing(files_portal: FilesPortal, homer: SignedIn,
                                                                 outbox: RecordingEmailSender, title: str,
                                                                 details: str, bad: set[str]) -> None:
    before = len(_stored(files_portal))
    mails = len(outbox.outbox)
    form = _form(homer)
    response = _post(homer, {**form, "title": title, "details": details})
    assert response.status_code == 400
    page = response.text
    for field in ("title", "details"):
        assert (f'id="{field}-error"' in page) == (field in bad)
        assert (f'aria-describedby="{field}-error"' in page) == (field in bad)
    assert f'value="{html.escape(title, quote=True)}"' in page  # what was typed comes back
    assert f">{html.escape(details, quote=False)}</textarea>" in page
    assert form_token_of(page) == form["form_token"]
    assert len(_stored(files_portal)) == before
    assert len(outbox.outbox) == mails


@pytest.mark.parametrize(("title", "details"), [("x", "d"), ("x" * 200, "d" * 5000), ("  x  ", " d ")])
def test_the_limits_are_inclusive(files_portal: FilesPortal, homer: SignedIn, title: str, details: str) -> None:
    assert _post(homer, {**_form(homer), "title": title, "details": details}).status_code == 303


def test_a_double_submit_makes_one_request_and_one_email(files_portal: FilesPortal, homer: SignedIn,
                                                        outbox: RecordingEmailSender) -> None:
    before = len(_stored(files_portal))
    form = {**_form(homer), "title": "Only once", "details": "Please."}
    first = _post(homer, form)
    second = _post(homer, form)
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert len(_stored(files_portal)) == before + 1
    assert len(outbox.to(BUSINESS)) == 1
    # A fresh form is a new request.
    assert _post(homer, {**_form(homer), "title": "Only once", "details": "Please."}).headers["Location"] != \
        first.headers["Location"]


def test_a_corrected_form_after_an_error_still_submits_once(files_portal: FilesPortal, homer: SignedIn) -> None:
    before = len(_stored(files_portal))
    form = _form(homer)
    bad = _post(homer, {**form, "title": "", "details": "x"})
    fixed = {"csrf_token": csrf_of(bad.text), "form_token": form_token_of(bad.text), "title": "Fixed",
             "details": "x"}
    assert _post(homer, fixed).status_code == 303
    assert _post(homer, fixed).status_code == 303
    assert len(_stored(files_portal)) == before + 1


def test_without_csrf_token_nothing_is_stored(files_portal: FilesPortal, homer: SignedIn) -> None:
    before = len(_stored(files_portal))
    form = _form(homer)
    del form["csrf_token"]
    assert _post(homer, {**form, "title": "t", "details": "d"}).status_code == 400
    assert len(_stored(files_portal)) == before


def test_a_tampered_form_token_is_refused(files_portal: FilesPortal, homer: SignedIn) -> None:
    before = len(_stored(files_portal))
    form = {**_form(homer), "form_token": "../short", "title": "t", "details": "d"}
    assert _post(homer, form).status_code == 400
    assert len(_stored(files_portal)) == before


def _typed_back(page: str, title: str, details: str) -> bool:
    """Whether the page shows the typed title and details again, escaped as the template escapes them."""
    return f'value="{escape(title)}"' in page and f">{escape(details)}</textarea>" in page


@pytest.mark.parametrize("made_up", ["a" * 22 + "." + "b" * 22, "form-token-0123456789"])
def test_a_made_up_form_token_is_refused_and_a_fresh_form_keeps_what_was_typed(
        files_portal: FilesPortal, homer: SignedIn, outbox: RecordingEmailSender, made_up: str) -> None:
    before = len(_stored(files_portal))
    form = {**_form(homer), "form_token": made_up, "title": "Made <up>", "details": "Typed & kept."}
    response = _post(homer, form)
    assert response.status_code == 400
    assert len(_stored(files_portal)) == before and outbox.to(BUSINESS) == []
    page = response.text
    assert "This form has expired" in page
    assert _typed_back(page, "Made <up>", "Typed & kept.")
    fresh = form_token_of(page)
    assert fresh != made_up
    # The fresh form is the server's own: sending it stores the request once.
    sent = _post(homer, {**form, "form_token": fresh})
    assert sent.status_code == 303 and len(_stored(files_portal)) == before + 1


def test_a_form_token_issued_to_another_contact_is_refused(files_portal: FilesPortal, homer: SignedIn,
                                                           marge: SignedIn, peter: SignedIn) -> None:
    before = {company: len(_stored_for(files_portal, company)) for company in ("globex", "initech")}
    for other in (marge, peter):
        form = {**_form(homer), "form_token": _form(other)["form_token"], "title": "Borrowed", "details": "d"}
        response = _post(homer, form)
        assert response.status_code == 400 and "This form has expired" in response.text
        assert form_token_of(response.text) != form["form_token"]
    assert {company: len(_stored_for(files_portal, company)) for company in before} == before


def _stored_for(files_portal: FilesPortal, company: str) -> list:  # type: ignore[type-arg]
    company_id = files_portal.id_of("companies", company)
    with files_portal.services.uow() as uow:
        return uow.requests.list_for_company(company_id)


def _fill_the_hour(homer: SignedIn) -> None:
    for n in range(client_requests.REQUESTS_PER_HOUR):
        assert _post(homer, {**_form(homer), "title": f"Request {n}", "details": "d"}).status_code == 303


def test_the_eleventh_request_in_an_hour_answers_429_and_keeps_what_was_typed(
        files_portal: FilesPortal, homer: SignedIn, marge: SignedIn, outbox: RecordingEmailSender) -> None:
    _fill_the_hour(homer)
    before, mails = len(_stored(files_portal)), len(outbox.to(BUSINESS))
    form = {**_form(homer), "title": "One <more>", "details": "Line one\nand \"two\" & three"}
    response = _post(homer, form)
    assert response.status_code == 429
    page = response.text
    assert "many requests in the last hour" in page and 'role="alert"' in page
    assert _typed_back(page, "One <more>", "Line one\nand \"two\" & three")
    assert form_token_of(page) == form["form_token"]  # the same form: once it goes through, it goes through once
    assert len(_stored(files_portal)) == before and len(outbox.to(BUSINESS)) == mails
    # The form still opens, and another contact of the company is not held back.
    assert homer.get("/requests/new").status_code == 200
    assert _post(marge, {**_form(marge), "title": "Marge's", "details": "d"}).status_code == 303
    assert _post(homer, {**_form(homer), "title": "Still held", "details": "d"}).status_code == 429


def test_the_form_still_opens_after_the_limit(files_portal: FilesPortal, homer: SignedIn) -> None:
    _fill_the_hour(homer)
    page = homer.get("/requests/new")
    assert page.status_code == 200
    assert form_token_of(page.text) and 'name="title"' in page.text
    assert "many requests" not in page.text


def test_a_form_held_back_by_the_limit_goes_through_once_the_hour_has_passed(
        files_portal: FilesPortal, homer: SignedIn) -> None:
    _fill_the_hour(homer)
    form = {**_form(homer), "title": "Patient", "details": "d"}
    assert _post(homer, form).status_code == 429
    for _ in range(4):  # the contact keeps reading the portal (an idle session ends after an hour)
        files_portal.clock.advance(minutes=15, seconds=1)
        assert homer.get("/requests").status_code == 200
    before = len(_stored(files_portal))
    sent, again = _post(homer, form), _post(homer, form)
    assert sent.status_code == again.status_code == 303
    assert sent.headers["Location"] == again.headers["Location"]
    assert len(_stored(files_portal)) == before + 1


def test_a_resend_of_a_sent_form_past_the_limit_still_finds_its_request(files_portal: FilesPortal,
                                                                        homer: SignedIn) -> None:
    form = {**_form(homer), "title": "Sent once", "details": "d"}
    first = _post(homer, form)
    assert first.status_code == 303
    for n in range(client_requests.REQUESTS_PER_HOUR - 1):
        assert _post(homer, {**_form(homer), "title": f"Request {n}", "details": "d"}).status_code == 303
    assert _post(homer, {**_form(homer), "title": "Over", "details": "d"}).status_code == 429
    again = _post(homer, form)
    assert again.status_code == 303 and again.headers["Location"] == first.headers["Location"]


def test_requests_need_a_signed_in_client(files_portal: FilesPortal) -> None:
    client = files_portal.app.test_client()
    token = files_portal.token("globex")
    for path in ("/requests", "/requests/new"):
        response = client.get(f"/p/{token}{path}")
        assert response.status_code == 303 and response.headers["Location"].endswith("/login")


def test_an_unknown_request_is_404(homer: SignedIn) -> None:
    assert homer.get("/requests/nope").status_code == 404
