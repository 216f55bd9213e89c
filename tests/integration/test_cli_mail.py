"""`portal mail status|retry|run` and the sending commands over the outbox, as subprocesses, with a real SMTP
server that is stopped and started: notices refused now stay queued, a dispatcher delivers them once, exactly once."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from adapters.sqlalchemy import tables as t
from adapters.sqlalchemy.engine import create_engine_from_url
from entrypoints.demo import demo_seed
from tests.support.smtp import SmtpServer

from .test_cli import PORTAL

HOMER, MARGE = "homer@globex.example", "marge@globex.example"
Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
def env(database_url: str, tmp_path: Path, smtp: SmtpServer) -> dict[str, str]:
    return {**os.environ, "PORTAL_DATABASE_URL": database_url, "PORTAL_FILE_DIR": str(tmp_path / "files"),
            "PORTAL_BASE_URL": "https://portal.example", "PORTAL_SECRET_KEY": "cli-test-secret-0123456789",
            "PORTAL_EMAIL_URL": smtp.url, "PORTAL_EMAIL_FROM": "portal@falcon.example",
            "PORTAL_MAIL_TIMEOUT_SECONDS": "2"}


@pytest.fixture
def portal(env: dict[str, str], tmp_path: Path) -> Run:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([PORTAL, *args], env=env, capture_output=True, text=True, timeout=120)

    seed = tmp_path / "demo.json"
    seed.write_text(json.dumps(demo_seed(dt.datetime.now(dt.UTC).date())))
    assert run("seed", str(seed)).returncode == 0
    return run


def _status(portal: Run) -> dict[str, int]:
    done = portal("mail", "status")
    assert done.returncode == 0, done.stderr
    return {state: int(count) for state, count in (line.split() for line in done.stdout.splitlines())}


def test_status_counts_every_state(portal: Run) -> None:
    assert _status(portal) == {"pending": 0, "sent": 0, "failed": 0}
    assert portal("mail", "status").stdout.splitlines() == ["pending 0", "sent 0", "failed 0"]


def test_a_notice_refused_now_stays_queued_and_a_dispatcher_delivers_it_once(
        portal: Run, smtp: SmtpServer, env: dict[str, str], tmp_path: Path) -> None:
    smtp.stop()
    try:
        sent = portal("invoice", "send", "globex-i4")
        assert sent.returncode == 1, (sent.stdout, sent.stderr)  # the invoice is sent; its notices are queued
        assert "NOT delivered" in sent.stdout and "stays queued" in sent.stdout
        assert _status(portal) == {"pending": 2, "sent": 0, "failed": 0}
    finally:
        smtp.start()
    _dispatch_until(env, smtp, tmp_path, count=2, within=45)  # the retry is due 10 s after the refused try
    assert sorted(r[0] for r, _m in smtp.mailbox.messages) == [HOMER, MARGE]
    assert len({m["Message-ID"] for _r, m in smtp.mailbox.messages}) == 2
    assert _status(portal) == {"pending": 0, "sent": 2, "failed": 0}


def _dispatch_until(env: dict[str, str], smtp: SmtpServer, tmp_path: Path, *, count: int, within: float) -> None:
    """Runs `portal mail run` until count messages reached the relay (and 2 s more: a duplicate would show), then
    stops it with SIGTERM, which it must obey cleanly."""
    log_path = tmp_path / "mail-run.log"
    with log_path.open("wb") as log:
        dispatcher = subprocess.Popen([PORTAL, "mail", "run"], env=env, stdout=log, stderr=subprocess.STDOUT,
                                      start_new_session=True)
        try:
            deadline = time.monotonic() + within
            while len(smtp.mailbox.messages) < count and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(2)
        finally:
            os.killpg(dispatcher.pid, signal.SIGTERM)
            assert dispatcher.wait(20) == 0
    assert "mail dispatcher stopped" in log_path.read_text()
    assert len(smtp.mailbox.messages) == count


def test_retry_puts_failed_messages_back_and_they_go_out(portal: Run, smtp: SmtpServer, database_url: str,
                                                        env: dict[str, str], tmp_path: Path) -> None:
    smtp.stop()
    try:
        assert portal("invoice", "send", "globex-i4").returncode == 1
    finally:
        smtp.start()
    engine = create_engine_from_url(database_url)
    try:
        with engine.begin() as connection:  # a day of refusals later
            connection.execute(t.outbox.update().values(status="failed"))
    finally:
        engine.dispose()
    assert _status(portal) == {"pending": 0, "sent": 0, "failed": 2}
    retried = portal("mail", "retry")
    assert retried.returncode == 0 and retried.stdout.strip() == "2 failed messages are queued again"
    assert _status(portal) == {"pending": 2, "sent": 0, "failed": 0}
    _dispatch_until(env, smtp, tmp_path, count=2, within=15)  # due at once
    assert _status(portal) == {"pending": 0, "sent": 2, "failed": 0}
