"""The CRM's database file, the portal's tables beside its own, and the engine the portal uses over both."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlalchemy as sa

from adapters.sqlalchemy import embedding

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
    """Creates (or upgrades) the portal's own tables in the CRM's database, and the trigger that counts each time the
    CRM turns a customer's portal off (adapters.sqlalchemy.embedding): both idempotent."""
    embedding.add_portal_tables(url, access_flag=("customers", "customer_no", "portal_flag"))


def legacy_engine(url: str) -> sa.Engine:
    """The portal's engine over the CRM's database, with SQLite's foreign-key checks left off: the portal's own rows
    (codes, sessions, requests, payments) name companies, contacts and invoices that live in the CRM's tables."""
    return embedding.crm_engine(url)
