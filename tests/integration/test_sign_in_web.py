"""The sign-in flow through Flask's test client, with mail through a real SMTP server on loopback."""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections.abc import Iterator
from http.cookies import SimpleCookie
from typing import Any

import pytest
from flask import Flask

from adapters.memory import RecordingEmailSender
from adapters.smtp import SmtpEmailSender
from entrypoints.bootstrap import Services
from entrypoints.web import create_app
from portal_core import companies, outbox
from portal_core.model.one_time_code import CodeStatus, OneTimeCode
from portal_core.model.outbox import OutboxMessage, OutboxStatus
from tests.support.portal_app import build_portal, csrf_of, link_token, outbox_code, sign_in
from tests.support.smtp import SmtpServer, code_in, html_of, text_of

HOMER = "homer@globex.example"
PETER = "peter@initech.example"  # a contact of another company


@pytest.fixture(autouse=True)
def _services_closed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every portal a test builds has its services (the database's connections) closed when the test ends."""
    built: list[Services] = []
    build = build_portal

    def build_and_track(**kwargs: Any) -> tuple[Flask, Services]:
        app, services = build(**kwargs)
        built.append(services)
        return app, services

    monkeypatch.setitem(globals(), "build_portal", build_and_track)
    yield
    for services in built:
        services.close()


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


def smtp_portal(smtp: SmtpServer, **settings: object):  # type: ignore[no-untyped-def]
    sender = SmtpEmailSender.from_url(smtp.url, from_addr="portal@falcon.example", timeout=5)
    return build_portal(email_sender=sender, **settings)


def post_email(client, token: str, email: str):  # type: ignore[no-untyped-def]
    page = client.get(f"/p/{token}/login")
    return client.post(f"/p/{token}/login", data={"email": email, "csrf_token": csrf_of(page.text)})


def test_the_code_arrives_by_smtp_and_signs_the_contact_in(smtp: SmtpServer, store_url: str) -> None:
    app, services = smtp_portal(smtp, database_url=store_url)
    token = link_token(services, "globex")
    client = app.test_client()
    sign_in(client, token, "  Homer@Globex.example ", lambda email: code_in(smtp.mailbox.wait_for(HOMER)[-1]))
    home = client.get(f"/p/{token}/")
    assert home.status_code == 200
    assert "Welcome, Homer Simpson" in home.text
    message = smtp.mailbox.to(HOMER)[-1]
    assert message.is_multipart()
    assert message["From"] == "portal@falcon.example"
    text, html = text_of(message), html_of(message)
    assert "10 minutes" in text and "ignore" in text and "Falcon Facilities" in text
    assert "#0b6e4f" in html and code_in(message) in html


def test_a_wrong_code_shows_the_form_again_with_an_error(smtp: SmtpServer, store_url: str) -> None:
    app, services = smtp_portal(smtp, database_url=store_url)
    token = link_token(services, "globex")
    client = app.test_client()
    post_email(client, token, HOMER)
    right = code_in(smtp.mailbox.wait_for(HOMER)[-1])
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    page = client.get(f"/p/{token}/verify")
    response = client.post(f"/p/{token}/verify", data={"code": wrong, "csrf_token": csrf_of(page.text)})
    assert response.status_code == 400
    assert "not right" in response.text and 'name="code"' in response.text and "Verify code" in response.text
    assert client.get(f"/p/{token}/").status_code == 303


def _answer(client, token: str, email: str) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    response = post_email(client, token, email)
    verify = client.get(f"/p/{token}/verify")
    body = re.sub(r'name="csrf_token" value="[^"]+"', "", verify.text).replace(email, "EMAIL")
    return response.status_code, response.headers.get("Location", ""), body


def test_login_answers_alike_for_a_contact_another_companys_contact_and_a_stranger(
        smtp: SmtpServer, store_url: str) -> None:
    app, services = smtp_portal(smtp, database_url=store_url)
    token = link_token(services, "globex")
    answers = [_answer(app.test_client(), token, email) for email in (HOMER, PETER, "nobody@nowhere.example")]
    assert answers[0] == answers[1] == answers[2]
    smtp.mailbox.wait_for(HOMER)
    assert smtp.mailbox.to(PETER) == [] and smtp.mailbox.to("nobody@nowhere.example") == []


def test_a_slow_mail_relay_does_not_slow_the_answer_for_a_real_contact(smtp: SmtpServer, store_url: str) -> None:
    smtp.mailbox.delay = 3.0
    _app, services = smtp_portal(smtp, database_url=store_url)
    app = create_app(services=services)  # as served: a background dispatcher sends the mail, not the request
    dispatcher = app.extensions["portal.mail"]
    try:
        token = link_token(services, "globex")
        started = time.monotonic()
        response = post_email(app.test_client(), token, HOMER)
        elapsed = time.monotonic() - started
        assert response.status_code == 303
        # The relay takes 3 s; the answer must not wait for it (it would then tell that the email exists).
        assert elapsed < 2.0, elapsed
        smtp.mailbox.wait_for(HOMER, timeout=10)
    finally:
        dispatcher.stop()  # lets the round in flight record what the relay said
    assert outbox.mail_status(services.uow()) == {OutboxStatus.PENDING: 0, OutboxStatus.SENT: 1,
                                                  OutboxStatus.FAILED: 0}


def _homers_code(services: Services) -> tuple[OneTimeCode, OutboxMessage]:
    """Homer's only code and its message in the outbox, read through the ports (so on every store)."""
    with services.uow() as uow:  # never committed: the claim below only finds the queued message
        [message] = uow.outbox.claim_due(services.clock.now() + dt.timedelta(hours=1), limit=10)
        assert message.email.to == HOMER and message.subject_ref.startswith(outbox.CODE_REF)
        code = uow.codes.get(message.subject_ref.removeprefix(outbox.CODE_REF))
    with services.uow() as uow:
        message = uow.outbox.get(message.id)  # as stored, not as claimed
    assert code is not None and message is not None
    return code, message


def _verify(client, token: str, code: str):  # type: ignore[no-untyped-def]
    page = client.get(f"/p/{token}/verify")
    return client.post(f"/p/{token}/verify", data={"code": code, "csrf_token": csrf_of(page.text)})


def test_a_refused_message_leaves_no_usable_code_and_a_clear_message(smtp: SmtpServer, store_url: str) -> None:
    """... until a retry delivers it: then the same code works."""
    smtp.mailbox.refuse = True
    app, services = smtp_portal(smtp, database_url=store_url)
    token = link_token(services, "globex")
    client = app.test_client()
    assert post_email(client, token, HOMER).status_code == 303
    code, message = _homers_code(services)
    # Kept for the retries while it is valid, and queued again (10 s later), not dropped.
    assert code.status == CodeStatus.ACTIVE and smtp.mailbox.messages == []
    assert message.status == OutboxStatus.PENDING and message.attempts >= 1 and message.last_error
    real = re.search(r"(?<!\d)(\d{6})(?!\d)", message.email.text)
    assert real is not None
    for typed in ("123456", real.group(1)):  # not even the right code works while nobody could have received it
        response = _verify(client, token, typed)
        assert response.status_code == 400 and "could not email your code" in response.text
    assert client.get(f"/p/{token}/").status_code == 303

    smtp.mailbox.refuse = False  # the relay takes mail again; the next dispatcher round delivers the code
    services.clock.advance(seconds=10)
    attempts = outbox.dispatch(services.uow(), sender=services.email_sender, clock=services.clock,
                               randomness=services.randomness)
    assert [(a.message_id, a.delivered) for a in attempts] == [(message.id, True)]
    delivered = smtp.mailbox.wait_for(HOMER)[-1]
    assert code_in(delivered) == real.group(1)
    response = _verify(client, token, code_in(delivered))
    assert response.status_code == 303 and response.headers["Location"].endswith(f"/p/{token}/")
    assert client.get(f"/p/{token}/").status_code == 200


def test_the_smtp_sender_times_out_on_a_relay_that_does_not_answer(smtp: SmtpServer) -> None:
    from portal_core.errors import DeliveryFailed
    from portal_core.model.mail import Email

    smtp.mailbox.delay = 3.0
    sender = SmtpEmailSender.from_url(smtp.url, from_addr="portal@falcon.example", timeout=1)
    with pytest.raises(DeliveryFailed):
        sender.send(Email(to=HOMER, subject="s", text="t", html="<p>t</p>"))


def test_a_post_without_a_csrf_token_is_refused_and_sends_nothing(store_url: str) -> None:
    sender = RecordingEmailSender()
    app, services = build_portal(database_url=store_url, email_sender=sender)
    token = link_token(services, "globex")
    response = app.test_client().post(f"/p/{token}/login", data={"email": HOMER})
    assert response.status_code == 400
    assert sender.outbox == []


def test_security_headers_and_the_session_cookie_on_https(store_url: str) -> None:
    sender = RecordingEmailSender()
    app, services = build_portal(database_url=store_url, email_sender=sender, base_url="https://portal.example")
    token = link_token(services, "globex")
    client = app.test_client()
    # Over https, the CSRF check also wants a same-origin Referer, as browsers send under Referrer-Policy same-origin.
    referer = {"Referer": f"https://portal.example/p/{token}/login"}
    page = client.get(f"/p/{token}/login", base_url="https://portal.example")
    client.post(f"/p/{token}/login", data={"email": HOMER, "csrf_token": csrf_of(page.text)},
                base_url="https://portal.example", headers=referer)
    verify = client.get(f"/p/{token}/verify", base_url="https://portal.example")
    code = outbox_code(sender)(HOMER)
    response = client.post(f"/p/{token}/verify", data={"code": code, "csrf_token": csrf_of(verify.text)},
                           base_url="https://portal.example", headers=referer)
    cookie_header = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("__Host-portal_session=")]
    assert cookie_header, response.headers.getlist("Set-Cookie")
    morsel = SimpleCookie(cookie_header[0])["__Host-portal_session"]
    assert morsel["httponly"] and morsel["secure"] and morsel["samesite"] == "Lax" and morsel["path"] == "/"
    home = client.get(f"/p/{token}/", base_url="https://portal.example")
    assert home.status_code == 200
    headers = home.headers
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert "unsafe-inline" not in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["Cache-Control"] == "no-store"
    assert headers["Strict-Transport-Security"].startswith("max-age=")


def test_every_sign_in_gets_a_new_session_id_and_logout_ends_it_on_the_server(store_url: str) -> None:
    sender = RecordingEmailSender()
    app, services = build_portal(database_url=store_url, email_sender=sender)
    token = link_token(services, "globex")
    client = app.test_client()
    sign_in(client, token, HOMER, outbox_code(sender))
    first = client.get_cookie("portal_session")
    assert first is not None
    services.clock.advance(minutes=2)  # type: ignore[attr-defined]
    sign_in(client, token, HOMER, outbox_code(sender))
    second = client.get_cookie("portal_session")
    assert second is not None and second.value != first.value
    home = client.get(f"/p/{token}/")
    response = client.post(f"/p/{token}/logout", data={"csrf_token": csrf_of(home.text)})
    assert response.status_code == 303 and response.headers["Location"].endswith(f"/p/{token}/login")
    replay = app.test_client()
    replay.set_cookie("portal_session", second.value)
    assert replay.get(f"/p/{token}/").status_code == 303


def test_access_changes_take_effect_on_the_next_request(store_url: str) -> None:
    sender = RecordingEmailSender()
    app, services = build_portal(database_url=store_url, email_sender=sender)
    token = link_token(services, "globex")
    client = app.test_client()
    sign_in(client, token, HOMER, outbox_code(sender))
    assert client.get(f"/p/{token}/").status_code == 200
    companies.set_portal_access(services.uow(), "globex", enabled=False)
    for path in ("/", "/login", "/verify"):
        assert client.get(f"/p/{token}{path}").status_code == 404
    companies.set_portal_access(services.uow(), "globex", enabled=True)
    back = client.get(f"/p/{token}/")  # access is back, the session is not: turning it off ended it for good
    assert back.status_code == 303 and back.headers["Location"].endswith(f"/p/{token}/login")
    services.clock.advance(minutes=2)  # type: ignore[attr-defined]
    sign_in(client, token, HOMER, outbox_code(sender))
    assert client.get(f"/p/{token}/").status_code == 200
    companies.remove_contact(services.uow(), "globex", HOMER)
    assert client.get(f"/p/{token}/").status_code == 303


def test_a_rotated_link_is_404_and_ends_sessions_opened_under_it(store_url: str) -> None:
    sender = RecordingEmailSender()
    app, services = build_portal(database_url=store_url, email_sender=sender)
    token = link_token(services, "globex")
    client = app.test_client()
    sign_in(client, token, HOMER, outbox_code(sender))
    new_token = companies.rotate_link(services.uow(), randomness=services.randomness, company_key="globex").link_token
    assert client.get(f"/p/{token}/").status_code == 404
    assert client.get(f"/p/{token}/login").status_code == 404
    assert client.get(f"/p/{new_token}/").status_code == 303


def test_unknown_links_answer_404_on_every_route(store_url: str) -> None:
    app, _services = build_portal(database_url=store_url)
    client = app.test_client()
    for path in ("/", "/login", "/verify"):
        assert client.get(f"/p/not-a-real-token-at-all-xxxxxx{path}").status_code == 404
    assert client.post("/p/not-a-real-token-at-all-xxxxxx/login", data={"email": HOMER}).status_code in (400, 404)


def test_throttled_requests_are_told_to_wait_alike(smtp: SmtpServer, store_url: str) -> None:
    app, services = smtp_portal(smtp, database_url=store_url)
    token = link_token(services, "globex")
    for email in (HOMER, "nobody@nowhere.example"):
        client = app.test_client()  # a browser each: a new code in one flow waits a minute, whatever the email
        assert post_email(client, token, email).status_code == 303
        again = post_email(client, token, email)
        assert again.status_code == 429 and "wait" in again.text


def test_codes_tokens_and_emails_never_reach_the_logs(caplog: pytest.LogCaptureFixture, store_url: str) -> None:
    caplog.set_level(logging.DEBUG)
    sender = RecordingEmailSender()
    app, services = build_portal(database_url=store_url, email_sender=sender)
    token = link_token(services, "globex")
    client = app.test_client()
    sign_in(client, token, HOMER, outbox_code(sender))
    code = outbox_code(sender)(HOMER)
    sender.fail_with = "relay down"
    services.clock.advance(minutes=2)  # type: ignore[attr-defined]
    post_email(client, token, HOMER)
    logged = caplog.text
    assert "relay down" in logged  # the failure is logged...
    for secret in (code, token, HOMER, "homer"):  # ...without the code, the link token or the email
        assert secret not in logged


def test_signing_in_again_ends_the_session_the_browser_held_before(store_url: str) -> None:
    sender = RecordingEmailSender()
    app, services = build_portal(database_url=store_url, email_sender=sender)
    token = link_token(services, "globex")
    client = app.test_client()
    sign_in(client, token, HOMER, outbox_code(sender))
    old = client.get_cookie("portal_session")
    assert old is not None
    services.clock.advance(minutes=2)  # type: ignore[attr-defined]
    sign_in(client, token, HOMER, outbox_code(sender))
    stale = app.test_client()
    stale.set_cookie("portal_session", old.value)
    assert stale.get(f"/p/{token}/").status_code == 303
    assert client.get(f"/p/{token}/").status_code == 200
