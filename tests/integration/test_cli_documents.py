"""`portal invoice ...` and `portal quote ...` end to end, as subprocesses on SQLite, mailing a real SMTP server."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pypdf
import pytest

from entrypoints.demo import demo_seed
from tests.support.smtp import SmtpServer, text_of

from .test_cli import PORTAL

HOMER, MARGE = "homer@globex.example", "marge@globex.example"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
def portal(sqlite_url: str, tmp_path: Path, smtp: SmtpServer):  # type: ignore[no-untyped-def]
    """Runs `portal ...` against a SQLite database seeded with the demo (dated from today, as the CLI's clock is)."""
    env = {**os.environ, "PORTAL_DATABASE_URL": sqlite_url, "PORTAL_FILE_DIR": str(tmp_path / "files"),
           "PORTAL_BASE_URL": "https://portal.example", "PORTAL_SECRET_KEY": "cli-test-secret-0123456789",
           "PORTAL_EMAIL_URL": smtp.url, "PORTAL_EMAIL_FROM": "portal@falcon.example"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([PORTAL, *args], env=env, capture_output=True, text=True, timeout=120)

    seed = tmp_path / "demo.json"
    seed.write_text(json.dumps(demo_seed(dt.datetime.now(dt.UTC).date())))
    for args in (("db", "upgrade"), ("seed", str(seed))):
        result = run(*args)
        assert result.returncode == 0, result.stderr
    return run


def _refused(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stdout == "" and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    return lines[0]


def test_send_a_draft_invoice_then_again(portal, smtp: SmtpServer) -> None:  # type: ignore[no-untyped-def]
    sent = portal("invoice", "send", "globex-i4")
    assert sent.returncode == 0, sent.stderr
    lines = sent.stdout.splitlines()
    assert lines[0].startswith("invoice INV-2003 (Globex LLC) is now sent: issued ")
    assert lines[1:] == [f"  notice to Homer Simpson <{HOMER}>: delivered",
                         f"  notice to Marge Simpson <{MARGE}>: delivered"]
    [message] = smtp.mailbox.wait_for(HOMER)
    assert "https://portal.example/p/" in text_of(message) and "/login" in text_of(message)

    again = portal("invoice", "send", "globex-i4")
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[0].startswith("invoice INV-2003 (Globex LLC) was already sent; unchanged")
    assert "no notice sent: its contacts were notified less than 24 hours ago" in again.stdout
    assert len(smtp.mailbox.to(HOMER)) == 1


def _pdf_attachment(message: Any) -> tuple[str, str]:
    """The one attachment of a notice: its file name and the text of the PDF (read back with pypdf)."""
    [part] = list(message.iter_attachments())
    assert part.get_content_type() == "application/pdf"
    data = part.get_content()
    assert isinstance(data, bytes) and data.startswith(b"%PDF-")
    return part.get_filename(), "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages)


def test_invoice_and_quote_notices_carry_the_document_as_a_pdf(portal, smtp: SmtpServer) -> None:  # type: ignore[no-untyped-def]
    assert portal("invoice", "send", "globex-i4").returncode == 0
    assert portal("quote", "send", "globex-q4").returncode == 0
    for address in (HOMER, MARGE):
        invoice_mail, quote_mail = smtp.mailbox.wait_for(address, 2)
        name, text = _pdf_attachment(invoice_mail)
        assert name == "INV-2003.pdf" and "Invoice INV-2003" in text and "Globex LLC" in text and "Sent" in text
        assert text_of(invoice_mail)  # the notice's own text is still there, beside the attachment
        name, text = _pdf_attachment(quote_mail)
        assert name == "Q-1003.pdf" and "Quote Q-1003" in text and "Falcon Facilities" in text


def test_send_a_draft_quote(portal, smtp: SmtpServer) -> None:  # type: ignore[no-untyped-def]
    sent = portal("quote", "send", "globex-q4")
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.startswith("quote Q-1003 (Globex LLC) is now sent: ")
    assert len(smtp.mailbox.wait_for(MARGE)) == 1


@pytest.mark.parametrize(("args", "message"), [
    (("invoice", "send", "globex-i3"), "error: invoice INV-1990 is paid in full: there is nothing to send"),
    (("quote", "send", "globex-q3"), "error: quote Q-0998 is accepted: it cannot be sent"),
    (("invoice", "void", "globex-i2"), "error: invoice INV-2002 is partially paid (AED 400.00 received)"),
    (("invoice", "send", "nope"), "error: no invoice with ref or id 'nope'"),
    (("quote", "send", "nope"), "error: no quote with ref or id 'nope'"),
    (("invoice", "remind", "--overdue", "nobody"), "error: no company with ref or name 'nobody'"),
    (("invoice", "remind"), "error: portal invoice remind: the following arguments are required: --overdue"),
])
def test_refusals_are_one_line_on_stderr_with_status_2(portal, smtp: SmtpServer,  # type: ignore[no-untyped-def]
                                                       args: tuple[str, ...], message: str) -> None:
    assert _refused(portal(*args)).startswith(message)
    assert smtp.mailbox.messages == []


def test_void_then_send_is_refused(portal, smtp: SmtpServer) -> None:  # type: ignore[no-untyped-def]
    voided = portal("invoice", "void", "globex-i1")
    assert voided.returncode == 0, voided.stderr
    assert voided.stdout.startswith("invoice INV-2001 (Globex LLC) is now void: clients no longer see it")
    assert portal("invoice", "void", "globex-i1").stdout.startswith("invoice INV-2001 (Globex LLC) was already void")
    assert _refused(portal("invoice", "send", "globex-i1")) == "error: invoice INV-2001 is void: it cannot be sent"
    assert smtp.mailbox.messages == []


def test_remind_overdue_once_a_day(portal, smtp: SmtpServer) -> None:  # type: ignore[no-untyped-def]
    first = portal("invoice", "remind", "--overdue")
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [
        "Globex LLC: reminded of INV-2001 (AED 378.00 outstanding)",
        f"  reminder to Homer Simpson <{HOMER}>: delivered",
        f"  reminder to Marge Simpson <{MARGE}>: delivered",
    ]
    assert "INV-2001: AED 378.00 outstanding of AED 378.00" in text_of(smtp.mailbox.wait_for(HOMER)[0])

    second = portal("invoice", "remind", "--overdue", "globex")
    assert second.returncode == 0, second.stderr
    assert second.stdout.splitlines()[0].startswith("Globex LLC: INV-2001 held back (notified less than 24 hours ago")
    assert second.stdout.splitlines()[-1] == "nobody was reminded"
    assert len(smtp.mailbox.to(HOMER)) == 1


def test_with_access_disabled_the_command_says_the_notice_had_no_link(  # type: ignore[no-untyped-def]
        portal, smtp: SmtpServer) -> None:
    assert portal("access", "disable", "globex").returncode == 0
    sent = portal("invoice", "send", "globex-i4")
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.splitlines()[-1] == ("note: portal access for Globex LLC is off, so the notice carried no "
                                            "portal link (it asks the client to contact you)")
    assert "/p/" not in text_of(smtp.mailbox.wait_for(HOMER)[0])


def test_a_refusing_relay_is_reported_and_exits_1(portal, smtp: SmtpServer) -> None:  # type: ignore[no-untyped-def]
    smtp.mailbox.refuse = True
    sent = portal("invoice", "send", "globex-i4")
    assert sent.returncode == 1, sent.stderr
    assert sent.stdout.splitlines()[0].startswith("invoice INV-2003 (Globex LLC) is now sent")
    refused = f"  notice to Homer Simpson <{HOMER}>: NOT delivered (the mail relay did not accept the message"
    assert refused in sent.stdout
    audit = portal("audit", "globex")
    assert "invoice_notice_failed" in audit.stdout and HOMER not in audit.stdout
