"""The `portal` command end to end, as a subprocess, on SQLite and on PostgreSQL."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from adapters.sqlalchemy.tables import metadata

PORTAL = str(Path(sys.executable).parent / "portal")
EXAMPLE: dict[str, Any] = json.loads((Path(__file__).parents[2] / "docs" / "examples" / "seed.json").read_text())


def run(url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PORTAL_DATABASE_URL": url, "PORTAL_FILE_DIR": str(tmp_path / "files"),
           "PORTAL_BASE_URL": "https://portal.example", "PORTAL_SECRET_KEY": "cli-test-secret-0123456789"}
    return subprocess.run([PORTAL, *args], env=env, capture_output=True, text=True, timeout=120)


def snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return {table.name: sorted(map(tuple, connection.execute(table.select())), key=repr)
                    for table in metadata.sorted_tables}
    finally:
        engine.dispose()


def write(tmp_path: Path, document: Any, name: str = "seed.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(document) if not isinstance(document, str) else document)
    return str(path)


def test_seed_loads_the_example_and_a_second_run_changes_nothing(database_url: str, tmp_path: Path) -> None:
    seed = write(tmp_path, EXAMPLE)
    first = run(database_url, tmp_path, "seed", seed)
    assert first.returncode == 0, first.stderr
    before = snapshot(database_url)
    assert len(before["invoices"]) == 1 and len(before["files"]) == 1
    second = run(database_url, tmp_path, "seed", seed)
    assert second.returncode == 0, second.stderr
    assert snapshot(database_url) == before


def _bad_inputs() -> list[tuple[str, Any]]:
    def edit(change: Any) -> Any:
        document = copy.deepcopy(EXAMPLE)
        change(document)
        return document

    company = lambda d: d["companies"][0]  # noqa: E731
    other = {"ref": "initech", "name": "Initech", "portal_enabled": True,
             "jobs": [{"ref": "ij1", "title": "Other job", "status": "scheduled"}]}
    return [
        ("unreadable JSON", "{"),
        ("not an object", "[1, 2]"),
        ("unknown currency", edit(lambda d: company(d)["invoices"][0].update(currency="XYZ"))),
        ("too many decimals", edit(lambda d: company(d)["invoices"][0]["lines"][0].update(unit_price="1.005"))),
        ("a float amount", edit(lambda d: company(d)["invoices"][0].update(tax=1.5))),
        ("malformed email", edit(lambda d: company(d)["contacts"][0].update(email="homer at globex"))),
        ("bad date", edit(lambda d: company(d)["invoices"][0].update(due_date="31/10/2026"))),
        ("due before issue", edit(lambda d: company(d)["invoices"][0].update(due_date="2026-09-01"))),
        ("unknown status", edit(lambda d: company(d)["jobs"][0].update(status="done-ish"))),
        ("extra key", edit(lambda d: company(d).update(colour="red"))),
        ("missing name", edit(lambda d: company(d).pop("name"))),
        ("file attached to another company's job",
         edit(lambda d: (d["companies"].append(other), company(d)["files"][0].update(attached_to={"job": "ij1"})))),
        ("invoice naming an unknown job", edit(lambda d: company(d)["invoices"][0].update(job="nope"))),
        ("bad base64", edit(lambda d: company(d)["files"][0].update(content_base64="***"))),
        ("unsupported contact language", edit(lambda d: company(d)["contacts"][0].update(language="fr"))),
        ("unsupported business language", edit(lambda d: d["business"].update(default_language="de"))),
        ("attached to both",
         edit(lambda d: company(d)["files"][0].update(attached_to={"job": "j1", "invoice": "i1"}))),
        ("a ref reused by another company",
         edit(lambda d: d["companies"].append(
             {**other, "jobs": [{"ref": "j1", "title": "Clash", "status": "scheduled"}]}))),
    ]


@pytest.mark.parametrize(("what", "document"), _bad_inputs(), ids=[w for w, _ in _bad_inputs()])
def test_bad_seed_input_is_one_line_exit_2_and_writes_nothing(database_url: str, tmp_path: Path, what: str,
                                                              document: Any) -> None:
    before = snapshot(database_url)
    result = run(database_url, tmp_path, "seed", write(tmp_path, document))
    assert result.returncode == 2, (what, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert snapshot(database_url) == before


def test_a_missing_seed_file_is_exit_2(database_url: str, tmp_path: Path) -> None:
    result = run(database_url, tmp_path, "seed", str(tmp_path / "nope.json"))
    assert result.returncode == 2 and "cannot read" in result.stderr


def test_access_links_and_contacts(database_url: str, tmp_path: Path) -> None:
    assert run(database_url, tmp_path, "seed", write(tmp_path, EXAMPLE)).returncode == 0
    listing = run(database_url, tmp_path, "company", "list")
    assert "globex\tGlobex LLC\tportal on" in listing.stdout
    link = run(database_url, tmp_path, "link", "Globex LLC").stdout.strip()
    assert link.startswith("https://portal.example/p/") and len(link.rsplit("/", 1)[1]) >= 22
    rotated = run(database_url, tmp_path, "link", "rotate", "globex").stdout.strip()
    assert rotated.startswith("https://portal.example/p/") and rotated != link
    assert run(database_url, tmp_path, "link", "globex").stdout.strip() == rotated
    assert "off" in run(database_url, tmp_path, "access", "disable", "globex").stdout
    assert "portal off" in run(database_url, tmp_path, "company", "list").stdout
    assert "on" in run(database_url, tmp_path, "access", "enable", "globex").stdout
    added = run(database_url, tmp_path, "contact", "add", "globex", "Bart Simpson", " Bart@Globex.example ")
    assert added.returncode == 0, added.stderr
    duplicate = run(database_url, tmp_path, "contact", "add", "globex", "Bart again", "bart@globex.example")
    assert duplicate.returncode == 2 and "already" in duplicate.stderr
    assert run(database_url, tmp_path, "contact", "remove", "globex", "BART@globex.example").returncode == 0
    for args in (("contact", "add", "nope", "X", "x@y.example"), ("contact", "add", "globex", "X", "not-an-email"),
                 ("contact", "remove", "globex", "nobody@globex.example"), ("access", "enable", "nope"),
                 ("link", "nope"), ("audit", "nope"), ("frobnicate",)):
        result = run(database_url, tmp_path, *args)
        assert result.returncode == 2, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_db_upgrade_is_repeatable(database_url: str, tmp_path: Path) -> None:
    for _ in range(2):
        result = run(database_url, tmp_path, "db", "upgrade")
        assert result.returncode == 0, result.stderr


def test_contact_language_is_set_kept_by_a_seed_without_one_and_refused_when_unsupported(
        database_url: str, tmp_path: Path) -> None:
    document = copy.deepcopy(EXAMPLE)
    contact = document["companies"][0]["contacts"][0]
    company_ref, email = document["companies"][0]["ref"], contact["email"]
    assert run(database_url, tmp_path, "seed", write(tmp_path, document)).returncode == 0
    done = run(database_url, tmp_path, "contact", "language", company_ref, email, "ar")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{contact['name']} reads the portal and its mail in ar"
    assert run(database_url, tmp_path, "seed", write(tmp_path, document)).returncode == 0  # no language: kept
    languages = {row[2]: row[-1] for row in snapshot(database_url)["contacts"]}
    assert languages[contact["name"]] == "ar"
    contact["language"] = "en"  # a seed that names one sets it
    assert run(database_url, tmp_path, "seed", write(tmp_path, document)).returncode == 0
    assert {row[2]: row[-1] for row in snapshot(database_url)["contacts"]}[contact["name"]] == "en"
    refused = run(database_url, tmp_path, "contact", "language", company_ref, email, "fr")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert refused.stderr.strip().splitlines() == ["error: unsupported language 'fr' (expected one of: en, ar)"]
