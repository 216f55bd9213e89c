"""The Requests section through Flask's test client: the form, its validation, double submits, and the notice."""

from __future__ import annotations

import html

import pytest

from adapters.memory import RecordingEmailSender
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
    assert "New" in listing
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


def test_requests_need_a_signed_in_client(files_portal: FilesPortal) -> None:
    client = files_portal.app.test_client()
    token = files_portal.token("globex")
    for path in ("/requests", "/requests/new"):
        response = client.get(f"/p/{token}{path}")
        assert response.status_code == 303 and response.headers["Location"].endswith("/login")


def test_an_unknown_request_is_404(homer: SignedIn) -> None:
    assert homer.get("/requests/nope").status_code == 404
