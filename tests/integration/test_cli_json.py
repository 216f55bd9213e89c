"""`--json` on the listing commands, and the progress bar of long commands, as subprocesses on SQLite and PostgreSQL.

A script reads one JSON document from stdout; a person at a terminal sees a bar on stderr; a pipe or a log sees
neither control characters nor a bar.
"""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
from pathlib import Path
from typing import Any

import pytest

from .test_cli import EXAMPLE, PORTAL, run, write


@pytest.fixture
def seeded(database_url: str, tmp_path: Path) -> str:
    result = run(database_url, tmp_path, "seed", write(tmp_path, EXAMPLE))
    assert result.returncode == 0, result.stderr
    return database_url


def _json(url: str, tmp_path: Path, *args: str) -> Any:
    result = run(url, tmp_path, *args, "--json")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return json.loads(result.stdout)  # one document: json.loads refuses anything after it


def test_listing_commands_print_one_json_document(seeded: str, tmp_path: Path) -> None:
    assert _json(seeded, tmp_path, "company", "list") == {"companies": [
        {"id": _json(seeded, tmp_path, "company", "list")["companies"][0]["id"], "ref": "globex",
         "name": "Globex LLC", "portal_enabled": True}]}

    requests = _json(seeded, tmp_path, "request", "list", "globex")["requests"]
    assert [(r["ref"], r["title"], r["details"], r["status"], r["submitted_by"]) for r in requests] == [
        ("r1", "Noisy unit", "Rattles at night", "open", "Homer Simpson")]
    assert requests[0]["created_at"].endswith("+00:00")  # ISO 8601 with its offset

    files = _json(seeded, tmp_path, "file", "list", "globex")["files"]
    assert [(f["ref"], f["name"], f["content_type"], f["size"], f["on"], f["shown"]) for f in files] == [
        ("f1", "survey.pdf", "application/pdf", 24, {"job": "j1"}, True)]

    voided = run(seeded, tmp_path, "invoice", "void", "i1")
    assert voided.returncode == 0, voided.stderr
    audit = _json(seeded, tmp_path, "audit", "globex")["audit"]
    assert [(e["action"], e["who"], e["ip"]) for e in audit] == [("invoice_voided", "-", None)]
    assert set(audit[0]) == {"at", "action", "who", "ip", "detail"} and "INV-2001" in audit[0]["detail"]
    assert run(seeded, tmp_path, "access", "disable", "globex").returncode == 0
    assert _json(seeded, tmp_path, "company", "list")["companies"][0]["portal_enabled"] is False

    assert _json(seeded, tmp_path, "mail", "status") == {"mail": {"pending": 0, "sent": 0, "failed": 0}}
    assert _json(seeded, tmp_path, "payments", "status") == {"providers": [
        {"provider": "stripe", "connected": False, "connected_at": None, "credentials": {}},
        {"provider": "telr", "connected": False, "connected_at": None, "credentials": {}}]}


def test_json_of_a_connected_provider_masks_its_secrets(database_url: str, tmp_path: Path) -> None:
    connected = run(database_url, tmp_path, "payments", "connect", "telr", "--store-id", "12345",
                    "--auth-key", "telr-auth-key-0987654321", "--test-mode")
    assert connected.returncode == 0, connected.stderr
    telr = _json(database_url, tmp_path, "payments", "status")["providers"][1]
    assert telr["connected"] is True and telr["connected_at"]
    assert telr["credentials"]["store_id"] == "12345"
    assert telr["credentials"]["auth_key"] == "…4321"
    assert "telr-auth-key" not in json.dumps(telr)


def test_an_unknown_company_is_still_one_line_and_status_2_with_json(seeded: str, tmp_path: Path) -> None:
    result = run(seeded, tmp_path, "request", "list", "nobody", "--json")
    assert result.returncode == 2 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def _many_companies(count: int) -> dict[str, Any]:
    return {**EXAMPLE, "companies": [{"ref": f"co{n}", "name": f"Company {n}", "portal_enabled": n % 2 == 0}
                                     for n in range(count)]}


def _run_on_a_terminal(url: str, tmp_path: Path, *args: str) -> tuple[int, str, str]:
    """Runs `portal` with stderr on a pseudo-terminal (as when a person runs it) and stdout on a pipe."""
    env = {**os.environ, "PORTAL_DATABASE_URL": url, "PORTAL_FILE_DIR": str(tmp_path / "files"),
           "PORTAL_BASE_URL": "https://portal.example", "PORTAL_SECRET_KEY": "cli-test-secret-0123456789"}
    leader, follower = pty.openpty()
    with subprocess.Popen([PORTAL, *args], env=env, stdout=subprocess.PIPE, stderr=follower, text=True) as process:
        os.close(follower)
        seen = b""
        while True:
            ready, _, _ = select.select([leader], [], [], 60)
            if not ready:
                process.kill()
                pytest.fail("the command went quiet for a minute")
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal is closed: the command ended
                break
            if not chunk:
                break
            seen += chunk
        stdout = process.stdout.read() if process.stdout else ""
        status = process.wait(timeout=60)
    os.close(leader)
    return status, stdout, seen.decode()


def test_a_long_seed_and_prune_draw_a_bar_on_a_terminal_and_nothing_in_a_pipe(database_url: str,
                                                                             tmp_path: Path) -> None:
    seed = write(tmp_path, _many_companies(40))
    status, stdout, terminal = _run_on_a_terminal(database_url, tmp_path, "seed", seed)
    assert status == 0, terminal
    assert "seeded 40 companies" in stdout  # the result stays on stdout
    assert "\rloading companies [" in terminal and "] 40/40" in terminal and "] 1/40" in terminal
    assert "seeded" not in terminal

    piped = run(database_url, tmp_path, "seed", seed)  # stderr is a pipe, as in cron or CI
    assert piped.returncode == 0 and piped.stderr == "" and "\r" not in piped.stdout

    status, stdout, terminal = _run_on_a_terminal(database_url, tmp_path, "prune")
    assert status == 0, terminal
    assert "one-time codes: 0 removed" in stdout
    assert "\rpruning [" in terminal and "] 7/7" in terminal
    piped = run(database_url, tmp_path, "prune")
    assert piped.returncode == 0 and piped.stderr == ""
