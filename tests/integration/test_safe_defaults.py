"""Safe defaults of `portal serve` and `portal demo`, and access turned off by anyone ending sessions for good."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from adapters.memory import FixedClock, RecordingEmailSender
from adapters.sqlalchemy import tables as t
from adapters.sqlalchemy.engine import create_engine_from_url
from entrypoints.bootstrap import build_services
from entrypoints.demo import demo_seed
from entrypoints.settings import Settings
from entrypoints.web import create_app
from portal_core.seed import load_seed
from tests.support.portal_app import NOW, link_token, outbox_code, sign_in
from tests.support.smtp import free_port

PORTAL = str(Path(sys.executable).parent / "portal")
SECRET = "safe-defaults-secret-0123456789"


def serve(tmp_path: Path, *args: str, timeout: float = 20, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**{k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")},
            "PORTAL_DATABASE_URL": f"sqlite:///{tmp_path / 'portal.db'}", "PORTAL_SECRET_KEY": SECRET,
            "PORTAL_INSTANCE_DIR": str(tmp_path / "instance"), **env}
    return subprocess.run([PORTAL, *args], env=full, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def test_serve_refuses_to_start_without_an_email_url(tmp_path: Path) -> None:
    done = serve(tmp_path, "serve", "--port", str(free_port()))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "PORTAL_EMAIL_URL" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("url", ["ftp://files.example/portal", "s3://", "s3://Not A Bucket/portal"])
def test_a_malformed_file_storage_stops_serve_in_one_line(tmp_path: Path, url: str) -> None:
    done = serve(tmp_path, "serve", "--port", str(free_port()), PORTAL_EMAIL_URL="console://",
                 PORTAL_FILE_STORAGE=url)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "PORTAL_FILE_STORAGE" in done.stderr
    assert "Traceback" not in done.stderr and "Worker" not in done.stderr


def test_serve_with_console_mail_starts_with_a_warning(tmp_path: Path) -> None:
    port = free_port()
    full = {**os.environ, "PORTAL_DATABASE_URL": f"sqlite:///{tmp_path / 'portal.db'}", "PORTAL_SECRET_KEY": SECRET,
            "PORTAL_EMAIL_URL": "console://"}
    process = subprocess.Popen([PORTAL, "serve", "--port", str(port), "--workers", "1"], env=full,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert process.poll() is None, process.communicate()
            time.sleep(0.1)
        else:
            raise AssertionError("portal serve did not start listening")
    finally:
        os.killpg(process.pid, 15)
        _out, err = process.communicate(timeout=15)
    assert err.startswith("warning: PORTAL_EMAIL_URL is console://")


@pytest.mark.parametrize("url", ["smtp://mailer:s3cr3t-pa55@127.0.0.1:2525",
                                 "smtp://mailer:s3cr3t-pa55@127.0.0.1:2525?starttls=0"])
def test_a_password_without_tls_is_refused(tmp_path: Path, url: str) -> None:
    for command in (["serve", "--port", str(free_port())], ["invoice", "remind", "--overdue"]):
        done = serve(tmp_path, *command, PORTAL_EMAIL_URL=url)
        assert done.returncode == 2, (command, done.stderr)
        assert done.stderr.count("\n") == 1 and "starttls=1" in done.stderr and "ssl=1" in done.stderr
        assert "s3cr3t-pa55" not in done.stderr + done.stdout


@pytest.mark.parametrize("query", ["?starttls=1", "?ssl=1", "?insecure=1"])
def test_a_password_with_tls_or_insecure_on_purpose_is_accepted(tmp_path: Path, query: str) -> None:
    with socket.socket() as taken:  # the port check comes after the email check: reaching it proves the URL passed
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = serve(tmp_path, "serve", "--port", str(port),
                     PORTAL_EMAIL_URL=f"smtp://mailer:s3cr3t-pa55@127.0.0.1:2525{query}")
    assert done.returncode == 2 and f"port {port}" in done.stderr, done.stderr


@pytest.mark.parametrize("command", [["serve"], ["demo"]])
def test_a_port_in_use_ends_at_once_in_one_line(tmp_path: Path, command: list[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.monotonic()
        done = serve(tmp_path, *command, "--port", str(port), PORTAL_EMAIL_URL="smtp://127.0.0.1:2525")
        took = time.monotonic() - started
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and f"port {port}" in done.stderr and "--port" in done.stderr
    assert took < 5  # gunicorn alone would retry for five seconds
    assert not (tmp_path / "instance" / "demo").exists()  # the demo stopped before making anything


def test_access_turned_off_in_the_table_itself_ends_sessions_for_good(database_url: str) -> None:
    """An embedding CRM (or an operator) flips the flag with its own SQL: the trigger moves the generation on."""
    sender, clock = RecordingEmailSender(), FixedClock(NOW)
    services = build_services(Settings.from_env({}, database_url=database_url, file_dir="memory://",
                                                secret_key=SECRET), email_sender=sender, clock=clock)
    try:
        load_seed(services.uow(), randomness=services.randomness, clock=services.clock, storage=services.files,
                  document=demo_seed(NOW.date()))
        app = create_app(services=services, synchronous_mail=True)
        token = link_token(services, "globex")
        client = app.test_client()
        sign_in(client, token, "homer@globex.example", outbox_code(sender))
        assert client.get(f"/p/{token}/").status_code == 200
        engine = create_engine_from_url(database_url)
        try:
            for enabled in (False, True):
                with engine.begin() as connection:
                    connection.execute(t.companies.update().where(t.companies.c.ref == "globex")
                                       .values(portal_enabled=enabled))
            with engine.connect() as connection:
                generation = connection.execute(sa.select(t.companies.c.access_generation)
                                                .where(t.companies.c.ref == "globex")).scalar_one()
        finally:
            engine.dispose()
        assert generation == 1
        answer = client.get(f"/p/{token}/")
        assert answer.status_code == 303 and answer.headers["Location"].endswith("/login")
        clock.advance(minutes=2)
        sign_in(client, token, "homer@globex.example", outbox_code(sender))  # a new sign-in works
        assert client.get(f"/p/{token}/").status_code == 200
    finally:
        services.close()


def test_an_embedders_unit_of_work_comes_with_its_schema_status(sqlite_url: str) -> None:
    """Without one, /readyz would say ready over a database that is not (issue 17): build_services refuses."""
    from adapters.memory import InMemoryUnitOfWork
    from entrypoints.settings import ConfigurationError

    settings = Settings.from_env({}, database_url=sqlite_url, file_dir="memory://", secret_key="x" * 32)
    with pytest.raises(ConfigurationError, match="needs schema_status"):
        build_services(settings, uow=InMemoryUnitOfWork)


def test_the_secrets_are_derived_once_per_process(sqlite_url: str) -> None:
    services = build_services(Settings.from_env({}, database_url=sqlite_url, file_dir="memory://",
                                                secret_key="y" * 32))
    try:
        for name in ("sign_in_secrets", "api_key_secrets", "webhook_secrets", "credential_vault"):
            assert getattr(services, name) is getattr(services, name), name
    finally:
        services.close()
