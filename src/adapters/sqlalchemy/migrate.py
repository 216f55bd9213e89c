"""Runs the Alembic migrations programmatically (no alembic.ini): what `portal db upgrade` calls."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from adapters.sqlalchemy.engine import create_engine_from_url
from adapters.sqlalchemy.errors import database_errors

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    """The newest revision this code knows."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None, "the migrations folder has no revisions"
    return head


def upgrade(url: str | sa.URL, revision: str = "head") -> None:
    """Migrates the database at url to revision (the newest by default). Raises DatabaseUnavailable."""
    config = _config()
    engine = create_engine_from_url(url)
    try:
        with database_errors(), engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        engine.dispose()


def current_revision(url: str | sa.URL) -> str | None:
    """The revision the database at url is at, or None before the first migration. Raises DatabaseUnavailable."""
    engine = create_engine_from_url(url)
    try:
        with database_errors(), engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
