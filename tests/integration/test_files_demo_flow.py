"""The issue's "done when", on the real adapters: a file attached with the CLI appears in the portal and downloads
byte for byte; detached, it is gone on the next request; a request from the portal shows in `portal request list`
and in the business's mailbox."""

from __future__ import annotations

import os
from pathlib import Path

from adapters.memory import RecordingEmailSender

from .files_fixtures import FilesPortal, csrf_of, form_token_of, make_files_portal, recorded_code
from .test_cli import run


def test_attach_download_detach_and_request_on_a_real_database(database_url: str, tmp_path: Path) -> None:
    outbox = RecordingEmailSender()
    portal = make_files_portal(tmp_path / "files", sender=outbox, database_url=database_url)
    try:
        _flow(portal, outbox, database_url, tmp_path)
    finally:
        portal.services.close()


def _flow(portal: FilesPortal, outbox: RecordingEmailSender, database_url: str, tmp_path: Path) -> None:
    homer = portal.sign_in("globex", "homer@globex.example", recorded_code(outbox))

    body = os.urandom(300_000)
    upload = tmp_path / "Site photos 📷.jpg"
    upload.write_bytes(body)
    attached = run(database_url, tmp_path, "file", "attach", "--job", "globex-j1", str(upload))
    assert attached.returncode == 0, attached.stderr
    file_id = attached.stdout.strip()

    assert "Site photos 📷.jpg" in homer.get("/files").text
    shown = homer.get(f"/files/{file_id}")
    assert shown.status_code == 200 and shown.headers["Content-Type"] == "image/jpeg"
    assert homer.get(f"/files/{file_id}/download").data == body

    assert run(database_url, tmp_path, "file", "detach", file_id).returncode == 0
    assert homer.get(f"/files/{file_id}/download").status_code == 404
    assert "Site photos" not in homer.get("/files").text

    page = homer.get("/requests/new").text
    sent = homer.client.post(homer.url("/requests/new"), buffered=True, data={
        "csrf_token": csrf_of(page), "form_token": form_token_of(page), "title": "Photos look wrong",
        "details": "The ones on the AC job."})
    assert sent.status_code == 303
    request_id = sent.headers["Location"].rsplit("/", 1)[1]
    listing = run(database_url, tmp_path, "request", "list", "globex")
    assert f"{request_id}\t" in listing.stdout and "Photos look wrong\tHomer Simpson" in listing.stdout
    [notice] = outbox.to("office@falcon.example")
    assert "Photos look wrong" in notice.subject and "Globex LLC" in notice.subject
