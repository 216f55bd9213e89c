"""`portal api-key create/list/revoke` as a subprocess, on SQLite and PostgreSQL: the key is printed once, alone;
the list never shows it; refusals are one line on stderr with exit status 2; a revoked key stops working."""

from __future__ import annotations

import re
from pathlib import Path

import sqlalchemy as sa

from entrypoints.bootstrap import build_services
from entrypoints.settings import Settings
from portal_core import api_keys
from portal_core.errors import NotAuthenticated

from .test_cli import run


def _authenticates(url: str, key: str) -> bool:
    settings = Settings.from_env({}, database_url=url, file_dir="memory://", secret_key="cli-test-secret-0123456789")
    services = build_services(settings)
    try:
        api_keys.authenticate(services.uow(), secrets=services.api_key_secrets, clock=services.clock,
                              presented=key, per_minute=100)
        return True
    except NotAuthenticated:
        return False
    finally:
        services.close()


def test_keys_are_created_listed_and_revoked(database_url: str, tmp_path: Path) -> None:
    created = run(database_url, tmp_path, "api-key", "create", "crm")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert created.stdout == key + "\n" and re.fullmatch(r"pk_[A-Za-z0-9_-]{40,}", key)
    assert _authenticates(database_url, key)

    listed = run(database_url, tmp_path, "api-key", "list")
    assert listed.returncode == 0 and key not in listed.stdout
    assert re.fullmatch(r"crm\tcreated \S+\tlast used \S+\n", listed.stdout), listed.stdout
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            stored = [tuple(row) for row in connection.exec_driver_sql("SELECT * FROM api_keys")]
    finally:
        engine.dispose()
    assert stored and not any(key in str(value) for row in stored for value in row), "only a hash is stored"

    again = run(database_url, tmp_path, "api-key", "create", "crm")
    assert again.returncode == 2 and again.stdout == "" and len(again.stderr.strip().splitlines()) == 1

    revoked = run(database_url, tmp_path, "api-key", "revoke", "crm")
    assert revoked.returncode == 0 and not _authenticates(database_url, key)
    assert "revoked" in run(database_url, tmp_path, "api-key", "list").stdout
    twice = run(database_url, tmp_path, "api-key", "revoke", "crm")
    assert twice.returncode == 2 and len(twice.stderr.strip().splitlines()) == 1
    renewed = run(database_url, tmp_path, "api-key", "create", "crm")  # the name is free again
    assert renewed.returncode == 0 and _authenticates(database_url, renewed.stdout.strip())


def test_a_bad_name_is_refused_in_one_line(database_url: str, tmp_path: Path) -> None:
    for name in ("", "has space", "x" * 65, "-leading"):
        done = run(database_url, tmp_path, "api-key", "create", name)
        assert done.returncode == 2 and done.stdout == "", name
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
