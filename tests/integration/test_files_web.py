"""The Files section through Flask's test client: listing, inline views, downloads, headers, 304, 405 and 404."""

from __future__ import annotations

import hashlib
import os
import re
from urllib.parse import unquote

import pytest

from portal_core.model.documents import InvoiceStatus

from .files_fixtures import FilesPortal, SignedIn, csrf_of, files_portal, homer, marge, outbox, peter

__all__ = ["files_portal", "homer", "marge", "outbox", "peter"]  # fixtures imported for pytest, not unused

PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def test_the_files_page_lists_visible_files_grouped_by_job_and_invoice(files_portal: FilesPortal,
                                                                       homer: SignedIn) -> None:
    files_portal.attach(b"draft", name="draft-only.pdf", content_type="application/pdf", invoice="globex-i4")
    page = homer.get("/files")
    assert page.status_code == 200
    text = page.text
    assert re.search(r'<h2 id="group-\d+">Job: Replace AC unit</h2>', text)
    assert "site-survey.pdf" in text and "INV-2001 timesheet.txt" in text
    assert "cooling-plan.txt" not in text  # Initech's
    assert "draft-only.pdf" not in text  # on a draft invoice
    survey = files_portal.id_of("files", "globex-f1")
    assert f"/files/{survey}/download" in text and f'/files/{survey}"' in text
    assert "application/pdf" in text


def test_viewing_a_pdf_inline_streams_the_exact_bytes_with_safe_headers(files_portal: FilesPortal,
                                                                       homer: SignedIn) -> None:
    file = files_portal.attach(PDF, name="report.pdf", content_type="application/pdf", job="globex-j1")
    with homer.stream(f"/files/{file.id}") as response:
        assert response.status_code == 200
        assert response.is_streamed
        assert response.data == PDF
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["Content-Disposition"].startswith("inline;")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Length"] == str(len(PDF))
    assert response.headers["ETag"] == f'"{hashlib.sha256(PDF).hexdigest()}"'
    assert response.headers["Last-Modified"]
    cache = response.headers["Cache-Control"]
    assert "private" in cache and "no-cache" in cache and "public" not in cache and "no-store" not in cache


def test_plain_text_is_shown_as_utf8_text(files_portal: FilesPortal, homer: SignedIn) -> None:
    body = "Übersicht — 概要\n".encode()
    file = files_portal.attach(body, name="notes.txt", content_type="text/plain", job="globex-j1")
    response = homer.get(f"/files/{file.id}")
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.headers["Content-Disposition"].startswith("inline;")
    assert response.data == body


@pytest.mark.parametrize("content_type", ["text/html", "image/svg+xml", "application/xhtml+xml",
                                          "application/javascript", "text/xml"])
def test_html_svg_and_other_active_types_are_never_shown_inline(files_portal: FilesPortal, homer: SignedIn,
                                                                content_type: str) -> None:
    body = b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>"
    file = files_portal.attach(body, name="evil.html", content_type=content_type, job="globex-j1")
    for path in (f"/files/{file.id}", f"/files/{file.id}/download"):
        response = homer.get(path)
        assert response.status_code == 200
        assert response.headers["Content-Disposition"].startswith("attachment;")
        assert response.headers["Content-Type"] == "application/octet-stream"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in response.headers["Content-Security-Policy"]
        assert response.data == body


def test_download_is_an_attachment_with_the_exact_bytes(files_portal: FilesPortal, homer: SignedIn) -> None:
    survey = files_portal.id_of("files", "globex-f1")
    response = homer.get(f"/files/{survey}/download")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.headers["Content-Type"] == "application/pdf"
    with files_portal.services.uow() as uow:
        stored = uow.files.get(survey)
    assert stored is not None
    assert hashlib.sha256(response.data).hexdigest() == stored.content_hash


def _disposition(response: object) -> dict[str, str]:
    header = response.headers["Content-Disposition"]  # type: ignore[attr-defined]
    fallback = header.split('filename="', 1)[1].split('"; filename*=', 1)[0]
    encoded = header.split("filename*=", 1)[1]
    assert encoded.startswith("UTF-8''")
    assert all(ch not in encoded for ch in ' "\\;/')  # RFC 5987: nothing that needs quoting
    return {"fallback": fallback, "name": unquote(encoded.removeprefix("UTF-8''"))}


@pytest.mark.parametrize(("name", "offered", "fallback"), [
    ('Q3 report "final".pdf', 'Q3 report "final".pdf', "Q3 report _final_.pdf"),
    ("تقرير الربع الثالث.pdf", "تقرير الربع الثالث.pdf", "download.pdf"),
    ("Café résumé.txt", "Café résumé.txt", "Cafe resume.txt"),
    ("../../etc/passwd", "_.._etc_passwd", "_.._etc_passwd"),
    ("..\\..\\boot.ini", "_.._boot.ini", "_.._boot.ini"),
    ("100%; x=1.pdf", "100%; x=1.pdf", "100__ x=1.pdf"),
])
def test_download_names_survive_and_are_harmless(files_portal: FilesPortal, homer: SignedIn, name: str,
                                                 offered: str, fallback: str) -> None:
    file = files_portal.attach(b"data", name=name, content_type="application/pdf", job="globex-j1")
    response = homer.get(f"/files/{file.id}/download")
    parts = _disposition(response)
    assert parts["name"] == offered
    assert parts["fallback"] == fallback
    assert parts["fallback"].isascii()
    assert "/" not in parts["name"] and "\\" not in parts["name"]
    assert "\n" not in response.headers["Content-Disposition"]
    # The contents live under their hash, never under anything derived from the name.
    stored = [p.name for p in files_portal.file_dir.rglob("*") if p.is_file()]
    assert hashlib.sha256(b"data").hexdigest() in stored
    assert all(n.startswith(".") is False for n in stored)


def test_a_repeat_download_is_answered_304(files_portal: FilesPortal, homer: SignedIn) -> None:
    survey = files_portal.id_of("files", "globex-f1")
    first = homer.get(f"/files/{survey}/download")
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    again = homer.get(f"/files/{survey}/download", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == etag
    since = homer.get(f"/files/{survey}/download", headers={"If-Modified-Since": modified})
    assert since.status_code == 304
    changed = homer.get(f"/files/{survey}/download", headers={"If-None-Match": '"something-else"'})
    assert changed.status_code == 200 and changed.data == first.data


def test_a_range_request_gets_part_of_the_file(files_portal: FilesPortal, homer: SignedIn) -> None:
    file = files_portal.attach(PDF, name="report.pdf", content_type="application/pdf", job="globex-j1")
    response = homer.get(f"/files/{file.id}/download", headers={"Range": "bytes=0-3"})
    assert response.status_code == 206 and response.data == PDF[:4]


def test_a_large_file_streams_byte_for_byte(files_portal: FilesPortal, homer: SignedIn) -> None:
    body = os.urandom(3 * 1024 * 1024 + 17)  # bigger than MAX_CONTENT_LENGTH and many chunks
    file = files_portal.attach(body, name="big.bin", content_type="application/octet-stream", job="globex-j1")
    with homer.stream(f"/files/{file.id}/download") as response:
        assert response.is_streamed
        assert response.data == body


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
@pytest.mark.parametrize("suffix", ["/files", "/files/{id}", "/files/{id}/download"])
def test_there_is_no_upload_anywhere(files_portal: FilesPortal, homer: SignedIn, method: str, suffix: str) -> None:
    survey = files_portal.id_of("files", "globex-f1")
    csrf = csrf_of(homer.get("/files").text)
    path = homer.url(suffix.format(id=survey))
    for data in ({}, {"csrf_token": csrf, "file": "x"}):
        response = homer.client.open(path, method=method, data=data, buffered=True)
        assert response.status_code == 405, (method, path, response.status_code)
        assert "GET" in response.headers["Allow"]
        assert method not in response.headers["Allow"]


def test_another_companys_file_is_404(files_portal: FilesPortal, homer: SignedIn, peter: SignedIn) -> None:
    theirs = files_portal.id_of("files", "initech-f1")
    for path in (f"/files/{theirs}", f"/files/{theirs}/download"):
        assert homer.get(path).status_code == 404
        assert peter.get(path).status_code == 200
    # Homer's session on Peter's portal link is no session at all.
    assert homer.client.get(peter.url(f"/files/{theirs}"), buffered=True).status_code == 303


def test_a_detached_file_is_gone_on_the_next_request(files_portal: FilesPortal, homer: SignedIn) -> None:
    from portal_core import file_sharing

    file = files_portal.attach(PDF, name="temp.pdf", content_type="application/pdf", job="globex-j1")
    first = homer.get(f"/files/{file.id}/download")
    assert first.status_code == 200
    file_sharing.detach_file(files_portal.services.uow(), file.id)
    assert homer.get(f"/files/{file.id}/download").status_code == 404
    assert homer.get(f"/files/{file.id}").status_code == 404
    revalidate = homer.get(f"/files/{file.id}/download", headers={"If-None-Match": first.headers["ETag"]})
    assert revalidate.status_code == 404
    assert "temp.pdf" not in homer.get("/files").text


def test_a_file_on_a_draft_invoice_is_404_until_the_invoice_is_sent(files_portal: FilesPortal,
                                                                    homer: SignedIn) -> None:
    file = files_portal.attach(PDF, name="quote-backup.pdf", content_type="application/pdf", invoice="globex-i4")
    assert homer.get(f"/files/{file.id}").status_code == 404
    assert homer.get(f"/files/{file.id}/download").status_code == 404
    with files_portal.services.uow() as uow:
        invoice = uow.invoices.get_by_ref("globex-i4")
        assert invoice is not None
        invoice.status = InvoiceStatus.SENT
        uow.invoices.update(invoice)
        uow.commit()
    assert homer.get(f"/files/{file.id}/download").data == PDF
    assert "quote-backup.pdf" in homer.get("/files").text


def test_an_unknown_file_id_is_404(homer: SignedIn) -> None:
    assert homer.get("/files/nope").status_code == 404
    assert homer.get("/files/nope/download").status_code == 404


def test_files_need_a_signed_in_client(files_portal: FilesPortal) -> None:
    client = files_portal.app.test_client()
    token = files_portal.token("globex")
    survey = files_portal.id_of("files", "globex-f1")
    for path in ("/files", f"/files/{survey}", f"/files/{survey}/download"):
        response = client.get(f"/p/{token}{path}")
        assert response.status_code == 303 and response.headers["Location"].endswith("/login")


def test_every_view_and_download_is_audited(files_portal: FilesPortal, homer: SignedIn, marge: SignedIn) -> None:
    survey = files_portal.id_of("files", "globex-f1")
    homer.get(f"/files/{survey}")
    marge.get(f"/files/{survey}/download")
    company = files_portal.id_of("companies", "globex")
    with files_portal.services.uow() as uow:
        entries = [e for e in uow.audit.list_for_company(company) if e.action.startswith("file_")]
        contacts = {c.id: c.name for c in uow.contacts.list_for_company(company)}
    assert sorted((e.action, contacts[e.contact_id or ""], e.detail) for e in entries) == [
        ("file_downloaded", "Marge Simpson", survey), ("file_viewed", "Homer Simpson", survey)]
    assert all(e.ip for e in entries)


def test_missing_contents_answer_503_not_a_traceback(files_portal: FilesPortal, homer: SignedIn) -> None:
    file = files_portal.attach(b"soon gone", name="gone.txt", content_type="text/plain", job="globex-j1")
    for path in files_portal.file_dir.rglob(file.content_hash):
        path.unlink()
    assert homer.get(f"/files/{file.id}").status_code == 503
