"""The CRM's database file, the portal's tables beside its own, and the engine the portal uses over both."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from adapters.sqlalchemy.engine import create_engine_from_url
from adapters.sqlalchemy.migrate import upgrade

HERE = Path(__file__).resolve().parent.parent
SCHEMA = HERE / "schema.sql"
SAMPLE_DATA = HERE / "sample_data.sql"


def create_crm_database(path: Path, *, sample_data: bool = True) -> str:
    """Creates the CRM's own database (what the CRM's installer would have done); returns its SQLAlchemy URL."""
    with sqlite3.connect(path) as connection:
        connection.executescript(SCHEMA.read_text())
        if sample_data:
            connection.executescript(SAMPLE_DATA.read_text())
    connection.close()
    return f"sqlite:///{path}"


def add_portal_tables(url: str) -> None:
    """Creates (or upgrades) the portal's own tables in the CRM's database: `portal db upgrade` does the same.

    The portal's schema also has companies, contacts, invoices... tables; over the CRM they stay empty, and its own
    tables' foreign keys to them are not enforced (see legacy_engine).
    """
    upgrade(url)


def legacy_engine(url: str) -> sa.Engine:
    """The portal's engine over the CRM's database, with SQLite's foreign-key checks left off.

    The portal's own rows (codes, sessions, requests, payments) name companies, contacts and invoices that live in
    the CRM's tables under other names and keys, not in the portal's (empty) companies/contacts/invoices tables that
    its foreign keys point at. On PostgreSQL, drop those foreign keys instead (docs/embedding.md).
    """
    engine = create_engine_from_url(url)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _no_foreign_keys(dbapi_connection: Any, _record: Any) -> None:  # runs after the portal's own listener
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("PRAGMA foreign_keys = OFF")
            finally:
                cursor.close()

    return engine
