"""What every repository over SQLAlchemy Core shares: the explicit row-domain mapping, paging, lookups by id or
ref, the outboxes' claim, and deletes."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import cattrs
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from adapters.sqlalchemy.errors import database_errors
from portal_core.errors import RecordMissing
from portal_core.model.documents import (
    InvoiceStatus,
    Line,
)
from portal_core.model.money import Money
from portal_core.model.outbox import OutboxStatus

T = TypeVar("T")

# The ordering functions sort None dates as date.max; coalescing to the same value keeps ties identical.
_OPEN_INVOICE_STATUSES = (InvoiceStatus.SENT.value, InvoiceStatus.PARTIALLY_PAID.value)
# What _Records._one_of writes into a statement as it is: a status's spelling.
_CONSTANT = re.compile(r"[a-z_]{1,40}")


def _rows_converter() -> cattrs.Converter:
    """Maps entities whose attributes are exactly their columns; the driver already returns dates and datetimes."""
    converter = cattrs.Converter(forbid_extra_keys=True)
    converter.register_structure_hook(dt.datetime, lambda value, _type: value)
    converter.register_structure_hook(dt.date, lambda value, _type: value)
    return converter


_rows = _rows_converter()


def _lines_to_json(lines: Sequence[Line]) -> list[dict[str, Any]]:
    # Quantities as decimal strings: JSON numbers would go through float and lose exactness.
    return [{"description": line.description, "quantity": str(line.quantity),
             "unit_price_minor": line.unit_price.minor} for line in lines]


def _lines_from_json(data: list[dict[str, Any]], currency: str) -> tuple[Line, ...]:
    return tuple(Line(item["description"], Decimal(item["quantity"]), Money(item["unit_price_minor"], currency))
                 for item in data)


def _offset_limit(query: sa.Select[Any], offset: int, limit: int | None) -> sa.Select[Any]:
    if offset:
        query = query.offset(offset)
    return query if limit is None else query.limit(limit)


S = TypeVar("S", bound=sa.Executable)

# Statements the portal's pages run, built once per repository, database kind and shape, with each call's values as
# bind parameters (issue 14): building a statement (SQLAlchemy coercing every clause, computing its cache key and
# adapting the cached result columns to the new object) cost more Python than PostgreSQL took to run it. A race
# builds the same statement twice, and either is kept.
_BUILT: dict[tuple[Any, ...], Any] = {}


def built_statement(key: tuple[Any, ...], build: Callable[[], S]) -> S:
    """The statement for `key` (its owner, the database kind and its shape), built by build() the first time."""
    statement: S | None = _BUILT.get(key)
    if statement is None:
        statement = _BUILT[key] = build()
    return statement


def _paged(query: sa.Select[Any], offset: int, limit: int | None) -> sa.Select[Any]:
    """The page's OFFSET and LIMIT as bind parameters named "offset" and "limit" (present only when used)."""
    if offset:
        query = query.offset(sa.bindparam("offset", type_=sa.Integer()))
    return query if limit is None else query.limit(sa.bindparam("limit", type_=sa.Integer()))


class _Records(Generic[T]):
    """What every repository shares: the connection, the mapping, and insert/update/lookup by id or ref."""

    table: ClassVar[sa.Table]
    kind: ClassVar[type]

    def __init__(self, connection: sa.Connection) -> None:
        self._connection = connection

    def _to_row(self, item: T) -> dict[str, Any]:
        return dict(_rows.unstructure(item))

    def _from_row(self, row: sa.RowMapping) -> T:
        return _rows.structure(dict(row), self.kind)

    def _execute(self, statement: sa.Executable) -> sa.CursorResult[Any]:
        with database_errors():
            return self._connection.execute(statement)

    def _execute_with(self, statement: sa.Executable, values: dict[str, Any]) -> sa.CursorResult[Any]:
        """A statement built once (with bindparams) run with this call's values."""
        with database_errors():
            return self._connection.execute(statement, values)

    def _built(self, shape: tuple[Any, ...], build: Callable[[], S]) -> S:
        """The statement of this shape, built by build() the first time (see _BUILT)."""
        return built_statement((type(self), self._connection.dialect.name, *shape), build)

    def _list(self, shape: tuple[Any, ...], build: Callable[[], sa.Select[Any]], values: dict[str, Any], *,
              offset: int = 0, limit: int | None = None) -> list[T]:
        """The rows of a statement built once per shape (build() uses bind parameters for values), paged."""
        statement = self._built((*shape, bool(offset), limit is not None), lambda: _paged(build(), offset, limit))
        return [self._from_row(row) for row in self._execute_with(statement, {**values, "offset": offset,
                                                                               "limit": limit}).mappings()]

    def _first(self, shape: tuple[Any, ...], build: Callable[[], sa.Select[Any]], values: dict[str, Any]) -> T | None:
        """The first row of a statement built once per shape (build() uses bind parameters for values)."""
        statement = self._built(shape, lambda: build().limit(1))
        row = self._execute_with(statement, values).mappings().first()
        return self._from_row(row) if row is not None else None

    def _text(self, column: sa.ColumnElement[str]) -> sa.ColumnElement[str]:
        # Python orders strings by code point; PostgreSQL by the database's locale unless told "C" (byte order,
        # which for UTF-8 is code point order). SQLite's default BINARY collation already is.
        return column.collate("C") if self._connection.dialect.name == "postgresql" else column

    def _last_day(self, column: sa.ColumnElement[dt.date]) -> sa.ColumnElement[dt.date]:
        # "Unscheduled last": written as a literal, not a bound parameter, so that PostgreSQL sees the very
        # expression its index holds (migration 0007) and reads the index in order.
        last = "DATE '9999-12-31'" if self._connection.dialect.name == "postgresql" else "'9999-12-31'"
        return sa.func.coalesce(column, sa.literal_column(last, sa.Date()))

    @staticmethod
    def _one_of(column: sa.ColumnElement[str], values: Sequence[str]) -> sa.ColumnElement[bool]:
        """column IN (values), the values written into the statement rather than sent as parameters. They are the
        code's own constants (statuses): a plan PostgreSQL makes once for every execution of a prepared statement
        (a generic plan) then knows them, and can use an index whose condition names them (migrations 0014 and 0015)."""
        for value in values:
            if not _CONSTANT.fullmatch(value):
                raise ValueError(f"not a constant: {value!r}")
        return column.in_([sa.literal_column(f"'{value}'", sa.String()) for value in sorted(values)])

    def _select(self) -> sa.Select[Any]:
        return sa.select(self.table)

    def _one(self, *where: sa.ColumnElement[bool], order_by: Sequence[sa.ColumnElement[Any]] = ()) -> T | None:
        row = self._execute(self._select().where(*where).order_by(*order_by).limit(1)).mappings().first()
        return self._from_row(row) if row is not None else None

    def _all(self, *where: sa.ColumnElement[bool], order_by: Sequence[sa.ColumnElement[Any]],
             offset: int = 0, limit: int | None = None, lock: bool = False) -> list[T]:
        query = _offset_limit(self._select().where(*where).order_by(*order_by), offset, limit)
        if lock:
            query = query.with_for_update()
        return [self._from_row(row) for row in self._execute(query).mappings()]

    def add(self, item: T) -> None:
        # The row as the statement's parameters (not .values(row), which builds a new statement with a bound
        # parameter per column on every call): SQLAlchemy compiles the insert once per set of columns.
        self._execute_with(self._built(("insert",), self.table.insert), self._to_row(item))

    def update(self, item: T) -> None:
        row = self._to_row(item)
        # SET takes every other key of the parameters (the same way, compiled once); WHERE the id.
        statement = self._built(("update",), lambda: self.table.update().where(self.table.c.id == sa.bindparam("_key")))
        result = self._execute_with(statement, {"_key": row.pop("id"), **row})
        if result.rowcount == 0:
            raise RecordMissing(f"no {self.table.name} row {item.id}")  # type: ignore[attr-defined]

    def get(self, id_: str) -> T | None:
        return self._first(("get",), lambda: self._select().where(self.table.c.id == sa.bindparam("id")), {"id": id_})

    def get_by_ref(self, ref: str) -> T | None:
        return self._one(self.table.c.ref == ref)

    def _get_many(self, ids: list[str]) -> list[T]:
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return []
        query = self._built(("get_many",), self._build_get_many)
        found = {item.id: item for item in  # type: ignore[attr-defined]
                 (self._from_row(row) for row in self._execute_with(query, {"ids": wanted}).mappings())}
        return [found[key] for key in wanted if key in found]

    def _build_get_many(self) -> sa.Select[Any]:
        key = self.table.c.id
        if self._connection.dialect.name == "postgresql":
            # One array parameter: the same statement (and prepared plan) for any number of ids, where an expanding
            # IN is rendered again for each count and prepared by psycopg as a statement of its own.
            return self._select().where(key == sa.any_(sa.bindparam("ids", type_=postgresql.ARRAY(key.type))))
        return self._select().where(key.in_(sa.bindparam("ids", expanding=True)))

    def _remove(self, id_: str) -> None:
        self._execute(self.table.delete().where(self.table.c.id == id_))



class _Tried(Protocol):
    id: str
    claimed_until: dt.datetime | None

    def claim(self, now: dt.datetime) -> None: ...


Tried = TypeVar("Tried", bound=_Tried)


def claim_due(records: _Records[Tried], now: dt.datetime, *, limit: int,
              ids: Sequence[str] | None = None) -> list[Tried]:
    """Leases up to limit due entries of an outbox table (mail or webhook deliveries) to the caller: oldest due
    first, only those of ids when given, none that another dispatcher holds."""
    c = records.table.c
    if ids is not None and not ids:
        return []

    def build() -> sa.Select[Any]:
        now_ = sa.bindparam("now", type_=c.next_attempt_at.type)
        query = (records._select()
                 .where(c.status == OutboxStatus.PENDING.value, c.next_attempt_at <= now_,
                        sa.or_(c.claimed_until.is_(None), c.claimed_until <= now_))
                 .order_by(c.next_attempt_at, records._text(c.id)).limit(sa.bindparam("limit", type_=sa.Integer())))
        if ids is not None:
            query = query.where(c.id.in_(sa.bindparam("ids", expanding=True)))
        if records._connection.dialect.name == "postgresql":
            # Another dispatcher's claimed rows are skipped, not waited for: any number can run at once.
            query = query.with_for_update(skip_locked=True)
        return query

    query = records._built(("claim_due", ids is not None), build)
    claimed = [records._from_row(row) for row in records._execute_with(
        query, {"now": now, "limit": limit, "ids": list(ids or ())}).mappings()]
    for entry in claimed:
        entry.claim(now)
    if claimed:
        claim = records._built(("claim",), lambda: records.table.update().where(
            c.id.in_(sa.bindparam("ids", expanding=True))).values(claimed_until=sa.bindparam("until")))
        records._execute_with(claim, {"ids": [e.id for e in claimed], "until": claimed[0].claimed_until})
    return claimed



def _delete(connection: sa.Connection, table: sa.Table, where: sa.ColumnElement[bool]) -> int:
    with database_errors():
        return int(connection.execute(table.delete().where(where)).rowcount)


def _advisory_lock_id(key: str) -> int:
    """A signed 64-bit number for pg_advisory_xact_lock, from the (already keyed-hash) throttle key."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)
