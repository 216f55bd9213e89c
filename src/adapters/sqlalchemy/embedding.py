"""What every embedding over a CRM's own database needs (docs/embedding.md): the portal's own repositories beside
the CRM's, in one transaction; the portal's tables in the CRM's database; and read-only repositories that say so.

    class MyCrmUnitOfWork(CrmUnitOfWork):
        def crm_repositories(self, connection):
            return {"companies": MyCompanies(connection), "contacts": MyContacts(connection), ...}

The CRM-owned kinds (CRM_OWNED: business, companies, contacts, invoices, quotes, projects, jobs, tasks, files,
products) come from the subclass; the portal-owned ones (PORTAL_OWNED: codes, sessions, payments, requests, the
outbox, ...) from the SQLAlchemy adapter, on the same connection.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable, Iterable
from typing import Any

import sqlalchemy as sa

from adapters.sqlalchemy import tables
from adapters.sqlalchemy.engine import create_engine_from_url
from adapters.sqlalchemy.errors import database_errors
from adapters.sqlalchemy.migrate import upgrade
from adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWork
from portal_core.errors import CrmOwnedRecord
from portal_core.ids import OpaqueIds
from portal_core.ports import REPOSITORY_NAMES, close_repositories

#: The repositories over the portal's own tables: what the portal writes whatever the CRM (a release that adds a
#: port adds it here).
PORTAL_OWNED: tuple[str, ...] = ("codes", "sessions", "login_requests", "audit", "notices", "payments",
                                 "payment_providers", "processed_events", "requests", "outbox", "api_keys",
                                 "webhooks", "webhook_deliveries")
# (company_links, used by CompanyLinks below, is the portal's own table too.)
#: The repositories an embedding maps to the CRM's own tables.
CRM_OWNED: tuple[str, ...] = tuple(name for name in REPOSITORY_NAMES if name not in PORTAL_OWNED)
# The portal's tables that stay empty over a CRM, and the foreign keys into them that must not be enforced there.
_CRM_OWNED_TABLES = ("business", "companies", "contacts", "products", "projects", "jobs", "tasks", "quotes",
                     "invoices", "files")


def read_only(kind: str) -> Callable[..., None]:
    """A repository method that refuses: `add = update = read_only("customers")`."""

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise CrmOwnedRecord(f"{kind} belong to the CRM and are read-only here: change them in the CRM")

    return refuse


class CrmUnitOfWork:
    """The portal's UnitOfWork over a CRM's database: the CRM's repositories (from `crm_repositories`) and the
    portal's own (PORTAL_OWNED), on one connection, in one transaction. Like every unit of work it is one block at a
    time: outside its `with`, or entered twice, it raises RuntimeError."""

    def __init__(self, engine: sa.Engine) -> None:
        self._portal = SqlAlchemyUnitOfWork(engine)
        close_repositories(self)

    def crm_repositories(self, connection: sa.Connection) -> dict[str, Any]:
        """The repositories of CRM_OWNED, by name, over `connection` (the transaction's)."""
        raise NotImplementedError("return {name: repository} for every name in CRM_OWNED")

    def __enter__(self) -> CrmUnitOfWork:
        portal = self._portal.__enter__()
        try:
            crm = self.crm_repositories(portal.connection)
            missing = sorted(set(CRM_OWNED) - set(crm))
            if missing:
                raise NotImplementedError(f"crm_repositories() gives no {', '.join(missing)}")
            for name in PORTAL_OWNED:
                setattr(self, name, getattr(portal, name))
            for name, repository in crm.items():
                setattr(self, name, repository)
        except BaseException as error:
            self._portal.__exit__(type(error), error, error.__traceback__)
            close_repositories(self)
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            self._portal.__exit__(*exc)
        finally:
            close_repositories(self)

    @property
    def connection(self) -> sa.Connection:
        return self._portal.connection

    def commit(self) -> None:
        self._portal.commit()

    def rollback(self) -> None:
        self._portal.rollback()


def crm_engine(url: str) -> sa.Engine:
    """The portal's engine over a CRM's database: as create_engine_from_url, with SQLite's foreign keys off."""
    return create_engine_from_url(url, foreign_keys=False)


def add_portal_tables(url: str, *, access_flag: tuple[str, str, str] | None = None) -> None:
    """Creates (or upgrades) the portal's tables in the CRM's database, then, on PostgreSQL, drops the foreign keys
    from the portal's tables to its CRM-owned ones (which stay empty: those rows are the CRM's). With `access_flag`,
    the (table, key column, flag column) of the CRM's portal on/off switch, it installs install_access_trigger on it
    too. Run it on every upgrade, in place of `portal db upgrade`; it is idempotent."""
    upgrade(url)
    engine = create_engine_from_url(url)
    try:
        if engine.dialect.name == "postgresql":
            with engine.begin() as connection:
                inspector = sa.inspect(connection)
                for table in inspector.get_table_names():
                    for key in inspector.get_foreign_keys(table):
                        if (key["referred_table"] in _CRM_OWNED_TABLES and table not in _CRM_OWNED_TABLES
                                and key["name"]):
                            connection.exec_driver_sql(f'ALTER TABLE "{table}" DROP CONSTRAINT "{key["name"]}"')
        if access_flag is not None:
            table, key_column, flag = access_flag
            install_access_trigger(engine, table=table, key=key_column, flag=flag)
    finally:
        engine.dispose()


# ---- a CRM with no column for link tokens (docs/embedding.md, "No column for the link token")

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class CompanyLinks:
    """The link token and access generation of each of the CRM's companies (integer keys), for a CRM with no column
    for them. Until a link is rotated, a company's token is derived from the portal's secret: an opaque form of its
    key and a keyed tag (38 characters, 128 bits of tag), so nothing is written when the portal reads. Rotating it
    (companies.rotate_link) stores a random token in `company_links`, and the derived one stops working; the trigger
    of `install_access_trigger` bumps the generation there when the CRM turns the company's portal off. Use it on
    the unit of work's connection, inside its transaction."""

    def __init__(self, connection: sa.Connection, secret: str) -> None:
        self._connection = connection
        self._ids = OpaqueIds.from_secret(secret, "company link tokens v1")
        self._tag_key = hmac.new(secret.encode(), b"company link token tags v1", hashlib.sha256).digest()

    def _derived(self, key: int) -> str:
        tag = hmac.new(self._tag_key, str(key).encode(), hashlib.sha256).digest()[:16]
        return self._ids.public("company", key) + base64.urlsafe_b64encode(tag).decode().rstrip("=")

    def of(self, keys: Iterable[int]) -> dict[int, tuple[str, int]]:
        """(link token, access generation) of each key."""
        wanted = list(dict.fromkeys(keys))
        rows = self._rows(tables.company_links.c.company_key.in_([str(key) for key in wanted])) if wanted else {}
        found = {}
        for key in wanted:
            token, generation = rows.get(str(key), (None, 0))
            found[key] = (token or self._derived(key), generation)
        return found

    def key_of(self, link_token: str) -> int | None:
        """The CRM's key of the company whose current link this is; None for any other token."""
        rotated = self._rows(tables.company_links.c.link_token == link_token)
        if rotated:
            return int(next(iter(rotated)))
        if not link_token.isascii():  # no token is anything else (and compare_digest refuses non-ASCII text)
            return None
        key = self._ids.key("company", link_token[:16])
        if key is None or not hmac.compare_digest(self._derived(key).encode(), link_token.encode()):
            return None
        stored = self._rows(tables.company_links.c.company_key == str(key))
        return key if stored.get(str(key), (None, 0))[0] is None else None  # rotated: the derived one is dead

    def save(self, key: int, *, link_token: str, access_generation: int) -> None:
        values = {"link_token": None if link_token == self._derived(key) else link_token,
                  "access_generation": access_generation}
        c = tables.company_links.c
        with database_errors():
            updated = self._connection.execute(tables.company_links.update().where(c.company_key == str(key))
                                               .values(values)).rowcount
            if not updated:
                self._connection.execute(tables.company_links.insert().values(company_key=str(key), **values))

    def _rows(self, where: sa.ColumnElement[bool]) -> dict[str, tuple[str | None, int]]:
        c = tables.company_links.c
        with database_errors():
            return {row.company_key: (row.link_token, row.access_generation) for row in self._connection.execute(
                sa.select(c.company_key, c.link_token, c.access_generation).where(where))}


def access_generations(connection: sa.Connection, keys: Iterable[object]) -> dict[str, int]:
    """The access generation of each company key (as text) that `install_access_trigger` has counted; absent: 0.
    For a CRM with its own link-token column, map `Company.access_generation` from this."""
    c = tables.company_links.c
    wanted = [str(key) for key in dict.fromkeys(keys)]
    if not wanted:
        return {}
    with database_errors():
        rows = connection.execute(sa.select(c.company_key, c.access_generation).where(c.company_key.in_(wanted)))
        return {row.company_key: row.access_generation for row in rows}


def install_access_trigger(engine: sa.Engine, *, table: str, key: str, flag: str) -> None:
    """A trigger on the CRM's own table: when `flag` (an integer or boolean column) goes from on (non-zero, true) to
    off, the company's access generation in `company_links` grows, so the sessions opened before stay dead when the
    CRM turns it on again, even if no request came while it was off. Idempotent (an existing one is replaced); run it
    after add_portal_tables. On PostgreSQL the trigger names the portal's schema (the current one when installed),
    so the CRM's own writes find the table whatever their search_path; the CRM's database role needs UPDATE and
    INSERT on company_links."""
    for name in (table, key, flag):
        if not _IDENTIFIER.match(name):
            raise ValueError(f"{name!r} is not a plain SQL identifier")
    quote = engine.dialect.identifier_preparer.quote
    trigger = "portal_access_off_" + hashlib.sha256(table.encode()).hexdigest()[:16]  # within 63 characters
    t, k, f = quote(table), quote(key), quote(flag)
    with engine.begin() as connection:
        links = "company_links"
        if engine.dialect.name == "postgresql":
            links = f"{quote(connection.exec_driver_sql('SELECT current_schema()').scalar_one())}.company_links"
        bump = (f"INSERT INTO {links} (company_key, link_token, access_generation) "
                f"VALUES (CAST(OLD.{k} AS TEXT), NULL, 1) "
                "ON CONFLICT (company_key) DO UPDATE SET access_generation = company_links.access_generation + 1")
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql(
                f"CREATE OR REPLACE FUNCTION {trigger}() RETURNS trigger AS $$ BEGIN "
                f"IF COALESCE(OLD.{f}::int, 0) <> 0 AND COALESCE(NEW.{f}::int, 0) = 0 THEN {bump}; END IF; "
                "RETURN NEW; END $$ LANGUAGE plpgsql")
            connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {trigger} ON {t}")
            connection.exec_driver_sql(f"CREATE TRIGGER {trigger} AFTER UPDATE OF {f} ON {t} FOR EACH ROW "
                                       f"EXECUTE FUNCTION {trigger}()")
        else:
            connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {trigger}")
            connection.exec_driver_sql(
                f"CREATE TRIGGER {trigger} AFTER UPDATE OF {f} ON {t} "
                f"WHEN COALESCE(OLD.{f}, 0) <> 0 AND COALESCE(NEW.{f}, 0) = 0 BEGIN {bump}; END")
