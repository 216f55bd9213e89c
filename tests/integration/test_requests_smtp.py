"""The business hears of a new request through a real SMTP server on loopback (aiosmtpd), sent by SmtpEmailSender."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.smtp import SmtpEmailSender
from tests.support.smtp import SmtpServer, code_in, html_of, text_of

from .files_fixtures import FilesPortal, SignedIn, csrf_of, form_token_of, make_files_portal

BUSINESS = "office@falcon.example"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
def smtp_portal(tmp_path: Path, smtp: SmtpServer) -> FilesPortal:
    sender = SmtpEmailSender(host="127.0.0.1", port=smtp.port, from_addr="portal@falcon.example", timeout=5)
    return make_files_portal(tmp_path / "files", sender=sender)


def _sign_in(portal: FilesPortal, smtp: SmtpServer) -> SignedIn:
    def code_of(email: str) -> str:
        return code_in(smtp.mailbox.wait_for(email)[-1])
    return portal.sign_in("globex", "homer@globex.example", code_of)


def _submit(homer: SignedIn, title: str, details: str):  # type: ignore[no-untyped-def]
    page = homer.get("/requests/new").text
    return homer.client.post(homer.url("/requests/new"), buffered=True, data={
        "csrf_token": csrf_of(page), "form_token": form_token_of(page), "title": title, "details": details})


def test_the_business_receives_the_new_request_by_smtp(smtp_portal: FilesPortal, smtp: SmtpServer) -> None:
    homer = _sign_in(smtp_portal, smtp)
    response = _submit(homer, "Broken thermostat <b>now</b>", "Room 12 is at 31°C.\nPlease come today.")
    assert response.status_code == 303

    [message] = smtp.mailbox.wait_for(BUSINESS)
    assert message["Subject"] == "New portal request from Globex LLC: Broken thermostat <b>now</b>"
    assert message["From"] == "portal@falcon.example"
    assert message["Reply-To"] == "homer@globex.example"
    text = text_of(message)
    assert "Homer Simpson" in text and "homer@globex.example" in text and "Globex LLC" in text
    assert "Broken thermostat <b>now</b>" in text and "Room 12 is at 31°C." in text
    request_id = response.headers["Location"].rsplit("/", 1)[1]
    assert request_id in text
    page = html_of(message)
    assert "Broken thermostat &lt;b&gt;now&lt;/b&gt;" in page  # escaped in the HTML part
    assert "<b>now</b>" not in page


def test_a_refusing_relay_does_not_lose_the_request(smtp_portal: FilesPortal, smtp: SmtpServer) -> None:
    homer = _sign_in(smtp_portal, smtp)
    smtp.mailbox.refuse = True
    response = _submit(homer, "Relay down", "Still stored.")
    assert response.status_code == 303
    assert "Relay down" in homer.client.get(response.headers["Location"], buffered=True).text
    assert smtp.mailbox.to(BUSINESS) == []
