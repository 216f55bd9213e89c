"""`portal prune` and the retention use case: what has expired goes, what is live stays, on every store.

Runs over the in-memory store and over SQLite and PostgreSQL (the same rows, the same counts), and through the CLI.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from adapters.memory import FixedClock, InMemoryStore, InMemoryUnitOfWork
from adapters.sqlalchemy import tables as t
from adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWork
from portal_core.model.audit import AuditEntry
from portal_core.model.company import Company
from portal_core.model.contact import Contact
from portal_core.model.one_time_code import CodeHasher, CodeStatus, OneTimeCode
from portal_core.model.outbox import OutboxStatus
from portal_core.model.payment import Provider
from portal_core.model.session import PortalSession
from portal_core.model.webhook import Delivery, EventType
from portal_core.ports import UnitOfWork
from portal_core.retention import RetentionPolicy, prune
from portal_core.sign_in import SignInPolicy

NOW = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)
HASHER = CodeHasher.from_secret("retention-test-secret")
EXPECTED = [("one-time codes", 2), ("sessions", 3), ("throttle records", 1), ("processed payment events", 1),
            ("audit entries", 1), ("sent mail", 0), ("webhook deliveries", 2)]
# Deliveries: recent and delivered (kept), old and delivered (goes), old and still being retried (kept: a
# webhook's deliveries are tried for three days, but a pending one is never pruned), old and failed (goes).
DELIVERIES = {"dlv0000000000001": (1, OutboxStatus.SENT), "dlv0000000000002": (31, OutboxStatus.SENT),
              "dlv0000000000003": (31, OutboxStatus.PENDING), "dlv0000000000004": (31, OutboxStatus.FAILED)}
KEPT_DELIVERIES = ["dlv0000000000001", "dlv0000000000003"]


def _ago(**delta: float) -> dt.datetime:
    return NOW - dt.timedelta(**delta)


def _code(n: int, issued: dt.datetime, status: CodeStatus = CodeStatus.ACTIVE) -> OneTimeCode:
    code = OneTimeCode.issue(id=f"code{n:012d}", contact_id="contact000000001", company_id="company000000001",
                             flow_key="f" * 40, code="123456", hasher=HASHER, now=issued)
    code.status = status
    return code


def _session(n: int, *, created: dt.datetime, last_seen: dt.datetime,
             ended: dt.datetime | None = None) -> PortalSession:
    return PortalSession(id=f"{n:064d}", contact_id="contact000000001", company_id="company000000001",
                         link_token="t" * 32, email_key="homer@globex.example", access_generation=0,
                         created_at=created, last_seen_at=last_seen, ended_at=ended)


def fill(uow: UnitOfWork) -> None:
    with uow:
        uow.companies.add(Company(id="company000000001", name="Globex", link_token="t" * 32, portal_enabled=True))
        uow.contacts.add(Contact(id="contact000000001", company_id="company000000001", name="Homer",
                                 email="homer@globex.example"))
        # Codes: a live one, one used a minute ago, and two from more than a day ago (used, and never used).
        for code in [_code(1, _ago(minutes=1)), _code(2, _ago(minutes=5), CodeStatus.USED),
                     _code(3, _ago(days=1, minutes=1), CodeStatus.USED), _code(4, _ago(days=3))]:
            uow.codes.add(code)
        for session in [
            _session(1, created=_ago(hours=2), last_seen=_ago(minutes=1)),  # live
            _session(2, created=_ago(days=10), last_seen=_ago(days=10), ended=_ago(days=10)),  # ended recently
            _session(3, created=_ago(days=40), last_seen=_ago(days=40), ended=_ago(days=31)),  # signed out long ago
            _session(4, created=_ago(days=40), last_seen=_ago(days=32)),  # went idle long ago
            _session(5, created=_ago(days=35), last_seen=_ago(days=29, hours=1)),  # ran past 24 h long ago
        ]:
            uow.sessions.add(session)
        uow.login_requests.record("ip:within-the-hour", _ago(minutes=59))
        uow.login_requests.record("ip:past-the-hour", _ago(minutes=61))
        uow.processed_events.record(Provider.STRIPE, "evt_recent", _ago(days=89))
        uow.processed_events.record(Provider.STRIPE, "evt_old", _ago(days=91))
        for n, age in enumerate([364, 366]):
            uow.audit.append(AuditEntry(id=f"audit{n:011d}", at=_ago(days=age), action="signed_in",
                                        company_id="company000000001", contact_id=None, ip=None, detail=""))
        for id_, (age, status) in DELIVERIES.items():
            delivery = Delivery.queue(id=id_, webhook_id="hook000000000001", event_id=f"evt_{id_}",
                                      event_type=EventType.REQUEST_CREATED, body="{}", now=_ago(days=age))
            delivery.status = status
            uow.webhook_deliveries.add(delivery)
        uow.commit()


def run_prune(uow: UnitOfWork) -> list[tuple[str, int]]:
    return prune(uow, clock=FixedClock(NOW), sign_in_policy=SignInPolicy(), retention=RetentionPolicy())


def test_prune_over_the_memory_store() -> None:
    store = InMemoryStore()
    fill(InMemoryUnitOfWork(store))
    assert run_prune(InMemoryUnitOfWork(store)) == EXPECTED
    codes = store.state.tables["codes"]
    assert sorted(codes) == ["code000000000001", "code000000000002"]
    assert sorted(store.state.tables["sessions"]) == [f"{1:064d}", f"{2:064d}"]
    assert [key for key, _at in store.state.login_requests] == ["ip:within-the-hour"]
    assert list(store.state.processed_events) == [("stripe", "evt_recent")]
    assert [e.id for e in store.state.audit] == ["audit00000000000"]
    assert sorted(store.state.webhook_deliveries) == KEPT_DELIVERIES
    assert [count for _kind, count in run_prune(InMemoryUnitOfWork(store))] == [0] * len(EXPECTED)  # none left


def test_prune_over_sqlalchemy(engine: sa.Engine) -> None:
    fill(SqlAlchemyUnitOfWork(engine))
    assert run_prune(SqlAlchemyUnitOfWork(engine)) == EXPECTED
    with engine.connect() as connection:
        def ids(table: sa.Table, column: Callable[[sa.Table], sa.ColumnElement[str]]) -> list[str]:
            return sorted(connection.execute(sa.select(column(table))).scalars())

        assert ids(t.one_time_codes, lambda x: x.c.id) == ["code000000000001", "code000000000002"]
        assert ids(t.portal_sessions, lambda x: x.c.id) == [f"{1:064d}", f"{2:064d}"]
        assert ids(t.login_requests, lambda x: x.c.key) == ["ip:within-the-hour"]
        assert ids(t.processed_events, lambda x: x.c.event_id) == ["evt_recent"]
        assert ids(t.audit_log, lambda x: x.c.id) == ["audit00000000000"]
        assert ids(t.webhook_deliveries, lambda x: x.c.id) == KEPT_DELIVERIES
    assert [count for _kind, count in run_prune(SqlAlchemyUnitOfWork(engine))] == [0] * len(EXPECTED)


def test_the_audit_retention_is_a_setting(engine: sa.Engine) -> None:
    fill(SqlAlchemyUnitOfWork(engine))
    removed = dict(prune(SqlAlchemyUnitOfWork(engine), clock=FixedClock(NOW), sign_in_policy=SignInPolicy(),
                         retention=RetentionPolicy(audit=dt.timedelta(days=30))))
    assert removed["audit entries"] == 2


@pytest.mark.parametrize("retention_days", ["", "30"])
def test_portal_prune_prints_one_line_per_kind(database_url: str, retention_days: str, tmp_path: object) -> None:
    env = {"PORTAL_DATABASE_URL": database_url, "PORTAL_AUDIT_RETENTION_DAYS": retention_days,
           "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "entrypoints.cli", "prune"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"{kind}: 0 removed" for kind, _count in EXPECTED]
    assert done.stderr == ""


def test_portal_prune_refuses_a_malformed_retention(database_url: str) -> None:
    env = {"PORTAL_DATABASE_URL": database_url, "PORTAL_AUDIT_RETENTION_DAYS": "a year", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "entrypoints.cli", "prune"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "PORTAL_AUDIT_RETENTION_DAYS" in done.stderr
