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

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from adapters.sqlalchemy.engine import create_engine_from_url
from adapters.sqlalchemy.migrate import upgrade
from adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWork
from portal_core.errors import CrmOwnedRecord
from portal_core.ports import REPOSITORY_NAMES, close_repositories

#: The repositories over the portal's own tables: what the portal writes whatever the CRM (a release that adds a
#: port adds it here).
PORTAL_OWNED: tuple[str, ...] = ("codes", "sessions", "login_requests", "audit", "notices", "payments",
                                 "payment_providers", "processed_events", "requests", "outbox", "api_keys",
                                 "webhooks", "webhook_deliveries")
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


def add_portal_tables(url: str) -> None:
    """Creates (or upgrades) the portal's tables in the CRM's database, then, on PostgreSQL, drops the foreign keys
    from the portal's tables to its CRM-owned ones (which stay empty: those rows are the CRM's). Run it on every
    upgrade, in place of `portal db upgrade`; it is idempotent."""
    upgrade(url)
    engine = create_engine_from_url(url)
    try:
        if engine.dialect.name != "postgresql":
            return
        with engine.begin() as connection:
            inspector = sa.inspect(connection)
            for table in inspector.get_table_names():
                for key in inspector.get_foreign_keys(table):
                    if key["referred_table"] in _CRM_OWNED_TABLES and table not in _CRM_OWNED_TABLES and key["name"]:
                        connection.exec_driver_sql(f'ALTER TABLE "{table}" DROP CONSTRAINT "{key["name"]}"')
    finally:
        engine.dispose()
