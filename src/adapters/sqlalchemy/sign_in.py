"""Who may come in, over SQLAlchemy Core: one-time codes, sessions, the throttle log, the audit log, API keys, and
what every signed-in page reads in one query."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from adapters.sqlalchemy import tables as t
from adapters.sqlalchemy.errors import database_errors
from adapters.sqlalchemy.records import (
    _advisory_lock_id,
    _delete,
    _Records,
    _rows,
    built_statement,
)
from adapters.sqlalchemy.repositories import (
    SqlAlchemyBusinessRepository,
    SqlAlchemyCompanyRepository,
    SqlAlchemyContactRepository,
)
from portal_core.errors import RecordMissing
from portal_core.model.api_key import ApiKey
from portal_core.model.audit import AuditEntry
from portal_core.model.business import Business
from portal_core.model.one_time_code import CodeStatus, OneTimeCode
from portal_core.model.payment import Provider
from portal_core.model.session import PortalSession
from portal_core.ports import PageRows


class SqlAlchemyOneTimeCodeStore(_Records[OneTimeCode]):
    table, kind = t.one_time_codes, OneTimeCode

    def active_for_flow(self, contact_id: str, flow_key: str, *, lock: bool = False) -> list[OneTimeCode]:
        c = t.one_time_codes.c

        def build() -> sa.Select[Any]:
            query = (self._select().where(self._of_flow(), c.status == CodeStatus.ACTIVE.value)
                     .order_by(c.issued_at, self._text(c.id)))
            # FOR UPDATE makes a second sign-in in the same flow wait here until this one commits.
            return query.with_for_update() if lock else query

        return self._list(("active", lock), build, {"contact_id": contact_id, "flow_key": flow_key})

    def latest_for_flow(self, contact_id: str, flow_key: str) -> OneTimeCode | None:
        c = t.one_time_codes.c
        return self._first(("latest",), lambda: self._select().where(self._of_flow()).order_by(
            c.issued_at.desc(), self._text(c.id).desc()), {"contact_id": contact_id, "flow_key": flow_key})

    @staticmethod
    def _of_flow() -> sa.ColumnElement[bool]:
        c = t.one_time_codes.c
        return sa.and_(c.contact_id == sa.bindparam("contact_id"), c.flow_key == sa.bindparam("flow_key"))

    def prune(self, issued_before: dt.datetime) -> int:
        return _delete(self._connection, t.one_time_codes, t.one_time_codes.c.issued_at < issued_before)


class SqlAlchemySessionStore(_Records[PortalSession]):
    table, kind = t.portal_sessions, PortalSession

    def update(self, item: PortalSession) -> None:
        # An ended session stays ended (SessionStore.update): the stored end wins over none, in the statement
        # itself, so a page's last-seen update that waited for a sign-out's row lock does not undo it.
        row = self._to_row(item)
        c = t.portal_sessions.c
        statement = self._built(("update",), lambda: t.portal_sessions.update().where(c.id == sa.bindparam("_key"))
                                .values(ended_at=sa.func.coalesce(c.ended_at, sa.bindparam("_ended_at",
                                                                                            type_=c.ended_at.type))))
        values = {"_key": row.pop("id"), "_ended_at": row.pop("ended_at"), **row}
        if self._execute_with(statement, values).rowcount == 0:
            raise RecordMissing(f"no portal_sessions row {item.id}")

    def prune(self, ended_before: dt.datetime, *, idle: dt.timedelta, absolute: dt.timedelta) -> int:
        c = t.portal_sessions.c
        return _delete(self._connection, t.portal_sessions, sa.or_(
            c.ended_at < ended_before, c.last_seen_at < ended_before - idle, c.created_at < ended_before - absolute))


# The throttle's count, built once per number of keys (built_statement; sign-in runs it on every attempt).


def _count_each_since(windows: int) -> sa.Select[Any]:
    c = t.login_requests.c
    at = c.at.type
    counts = [sa.func.coalesce(sa.func.sum(sa.case((sa.and_(c.key == sa.bindparam(f"key_{n}"),
                                                            c.at >= sa.bindparam(f"since_{n}", type_=at)), 1),
                                                   else_=0)), 0).label(f"count_{n}") for n in range(windows)]
    return sa.select(*counts).where(c.key.in_(sa.bindparam("keys", expanding=True)),
                                    c.at >= sa.bindparam("earliest", type_=at))


class SqlAlchemyLoginRequestLog:
    def __init__(self, connection: sa.Connection) -> None:
        self._connection = connection

    def lock(self, *keys: str) -> None:
        # PostgreSQL: transaction-scoped advisory locks, released at commit or rollback; nothing is written. Taken
        # by one statement whose select list PostgreSQL evaluates left to right, so in the order given.
        # SQLite needs none: every transaction there begins IMMEDIATE (engine.py), so writers already take turns.
        if self._connection.dialect.name == "postgresql" and keys:
            statement = built_statement((SqlAlchemyLoginRequestLog, "lock", len(keys)), lambda: sa.select(*(
                sa.func.pg_advisory_xact_lock(sa.bindparam(f"lock_{n}", type_=sa.BigInteger())).label(f"lock_{n}")
                for n in range(len(keys)))))
            with database_errors():
                self._connection.execute(statement, {f"lock_{n}": _advisory_lock_id(key) for n, key in enumerate(keys)})

    def record(self, key: str, at: dt.datetime) -> None:
        self.record_each([key], at)

    def count_since(self, key: str, since: dt.datetime) -> int:
        return self.count_each_since([(key, since)])[0]

    def record_each(self, keys: Sequence[str], at: dt.datetime) -> None:
        if keys:
            with database_errors():  # one INSERT with a row per key (SQLAlchemy's "insertmanyvalues")
                self._connection.execute(t.login_requests.insert(), [{"key": key, "at": at} for key in keys])

    def count_each_since(self, windows: Sequence[tuple[str, dt.datetime]]) -> list[int]:
        if not windows:
            return []
        query = built_statement((SqlAlchemyLoginRequestLog, "count", len(windows)),
                                lambda: _count_each_since(len(windows)))
        values: dict[str, Any] = {"keys": sorted({key for key, _since in windows}),
                                  "earliest": min(since for _key, since in windows)}
        for n, (key, since) in enumerate(windows):
            values[f"key_{n}"], values[f"since_{n}"] = key, since
        with database_errors():
            return [int(value) for value in self._connection.execute(query, values).one()]

    def prune(self, before: dt.datetime) -> int:
        return _delete(self._connection, t.login_requests, t.login_requests.c.at < before)


class SqlAlchemyAuditLog(_Records[AuditEntry]):
    table, kind = t.audit_log, AuditEntry

    def append(self, entry: AuditEntry) -> None:
        self.add(entry)

    def list_for_company(self, company_id: str, *, limit: int = 200) -> list[AuditEntry]:
        c = t.audit_log.c
        return self._all(c.company_id == company_id, order_by=[c.at.desc(), self._text(c.id).desc()], limit=limit)

    def prune(self, before: dt.datetime) -> int:
        return _delete(self._connection, t.audit_log, t.audit_log.c.at < before)



class SqlAlchemyApiKeyRepository(_Records[ApiKey]):
    table, kind = t.api_keys, ApiKey

    def get_by_hash(self, key_hash: str) -> ApiKey | None:
        return self._one(t.api_keys.c.key_hash == key_hash)

    def list(self) -> list[ApiKey]:
        c = t.api_keys.c
        return self._all(order_by=[c.created_at, self._text(c.id)])



def _page_rows_query() -> sa.Select[Any]:
    co, se, ct, bu, pp = t.companies, t.portal_sessions, t.contacts, t.business, t.payment_providers
    parts = (("co", co), ("se", se), ("ct", ct), ("bu", bu))
    columns = [column.label(f"{prefix}_{column.name}") for prefix, table in parts for column in table.c]
    return (sa.select(*columns, pp.c.provider.label("pp_provider"))
            .select_from(co.outerjoin(se, se.c.id == sa.bindparam("session_id"))
                         .outerjoin(ct, ct.c.id == se.c.contact_id)
                         .outerjoin(bu, bu.c.id == SqlAlchemyBusinessRepository._KEY)
                         .outerjoin(pp, sa.true()))
            .where(co.c.link_token == sa.bindparam("link_token")).order_by(pp.c.provider))


# Every signed-in page runs it: built once, with the link token and the session id as parameters (issue 14).
_PAGE_ROWS = _page_rows_query()


class SqlAlchemySignedInReads:
    """PageRows in one statement: the company by its link token, left-joined to the session by id, the session's
    contact, the business row and every connected provider (one row per provider, or one row without)."""

    def __init__(self, connection: sa.Connection) -> None:
        self._connection = connection
        self._companies = SqlAlchemyCompanyRepository(connection)
        self._sessions = SqlAlchemySessionStore(connection)
        self._contacts = SqlAlchemyContactRepository(connection)

    def load(self, link_token: str, session_id: str) -> PageRows:
        with database_errors():
            rows = self._connection.execute(_PAGE_ROWS, {"link_token": link_token,
                                                         "session_id": session_id}).mappings().all()
        if not rows:
            return PageRows(company=None)

        def part(prefix: str) -> dict[str, Any] | None:
            values = {key[len(prefix) + 1:]: value for key, value in rows[0].items() if key.startswith(prefix + "_")}
            return None if values["id"] is None else values

        session, contact, business = part("se"), part("ct"), part("bu")
        if business is not None:
            del business["id"]
        return PageRows(
            company=self._companies._from_row(part("co")),  # type: ignore[arg-type]
            session=self._sessions._from_row(session) if session is not None else None,  # type: ignore[arg-type]
            contact=self._contacts._from_row(contact) if contact is not None else None,  # type: ignore[arg-type]
            business=_rows.structure(business, Business) if business is not None else None,
            providers=tuple(Provider(row["pp_provider"]) for row in rows if row["pp_provider"] is not None))
