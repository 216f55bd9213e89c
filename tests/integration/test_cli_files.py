"""`portal file ...` and `portal request ...` end to end, as subprocesses, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from .test_cli import EXAMPLE, run, write


@pytest.fixture
def seeded(database_url: str, tmp_path: Path) -> str:
    result = run(database_url, tmp_path, "seed", write(tmp_path, EXAMPLE))
    assert result.returncode == 0, result.stderr
    return database_url


def _bad(result: object) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)  # type: ignore[attr-defined]
    assert result.stdout == ""  # type: ignore[attr-defined]
    lines = result.stderr.strip().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1 and "Traceback" not in result.stderr  # type: ignore[attr-defined]
    return lines[0]


def test_attach_prints_the_id_alone_and_list_and_detach_follow(seeded: str, tmp_path: Path) -> None:
    upload = tmp_path / 'Q3 report "final".pdf'
    upload.write_bytes(b"%PDF-1.4 quarterly")
    attached = run(seeded, tmp_path, "file", "attach", "--job", "j1", str(upload))
    assert attached.returncode == 0, attached.stderr
    file_id = attached.stdout.strip()
    assert attached.stdout == file_id + "\n" and len(file_id) == 16

    digest = hashlib.sha256(b"%PDF-1.4 quarterly").hexdigest()
    assert (tmp_path / "files" / digest[:2] / digest).read_bytes() == b"%PDF-1.4 quarterly"

    on_invoice = run(seeded, tmp_path, "file", "attach", "--invoice", "i1", "--name", "تقرير.txt", str(upload))
    assert on_invoice.returncode == 0, on_invoice.stderr

    listing = run(seeded, tmp_path, "file", "list", "globex")
    assert listing.returncode == 0, listing.stderr
    rows = {line.split("\t")[0]: line.split("\t") for line in listing.stdout.splitlines()}
    assert rows[file_id][2:6] == ["job j1 (Replace AC unit)", 'Q3 report "final".pdf', "application/pdf", "18"]
    assert rows[on_invoice.stdout.strip()][2:5] == ["invoice INV-2001", "تقرير.txt", "application/pdf"]  # from PATH
    assert len(rows) == 3  # with the seed's own file

    detached = run(seeded, tmp_path, "file", "detach", file_id)
    assert detached.returncode == 0, detached.stderr
    assert file_id not in run(seeded, tmp_path, "file", "list", "Globex LLC").stdout
    assert "no file" in _bad(run(seeded, tmp_path, "file", "detach", file_id))


def test_bad_file_commands_end_with_one_line_and_status_2(seeded: str, tmp_path: Path) -> None:
    upload = tmp_path / "a.txt"
    upload.write_text("x")
    assert "no job" in _bad(run(seeded, tmp_path, "file", "attach", "--job", "nope", str(upload)))
    assert "no invoice" in _bad(run(seeded, tmp_path, "file", "attach", "--invoice", "nope", str(upload)))
    assert "cannot read" in _bad(run(seeded, tmp_path, "file", "attach", "--job", "j1", str(tmp_path / "missing")))
    _bad(run(seeded, tmp_path, "file", "attach", "--job", "j1", "--invoice", "i1", str(upload)))
    _bad(run(seeded, tmp_path, "file", "attach", str(upload)))
    _bad(run(seeded, tmp_path, "file", "attach", "--job", "j1", "--type", "not a type", str(upload)))
    assert "no company" in _bad(run(seeded, tmp_path, "file", "list", "nobody"))


def test_request_list_and_status(seeded: str, tmp_path: Path) -> None:
    listing = run(seeded, tmp_path, "request", "list", "globex")
    assert listing.returncode == 0, listing.stderr
    [line] = listing.stdout.splitlines()
    request_id, created, status, title, by = line.split("\t")
    assert (status, title, by) == ("open", "Noisy unit", "Homer Simpson")
    assert created[:4].isdigit()

    changed = run(seeded, tmp_path, "request", "status", request_id, "in_progress")
    assert changed.returncode == 0, changed.stderr
    assert run(seeded, tmp_path, "request", "list", "globex").stdout.split("\t")[2] == "in_progress"
    assert "closed" in run(seeded, tmp_path, "request", "status", "r1", "closed").stdout  # a seed ref works too

    assert "not a request status" in _bad(run(seeded, tmp_path, "request", "status", request_id, "done"))
    assert "no request" in _bad(run(seeded, tmp_path, "request", "status", "nope", "open"))
    assert "no company" in _bad(run(seeded, tmp_path, "request", "list", "nobody"))
