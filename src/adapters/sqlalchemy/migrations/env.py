"""Alembic's environment: migrates over the connection migrate.py hands in, or one made from the configured URL."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from adapters.sqlalchemy.engine import create_engine_from_url
from adapters.sqlalchemy.tables import metadata


def _run(connection: sa.Connection) -> None:
    # Batch mode on SQLite: it cannot ALTER most things, so later migrations copy and swap tables there.
    context.configure(connection=connection, target_metadata=metadata, compare_type=True,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine_from_url(context.config.get_main_option("sqlalchemy.url") or "")
    try:
        with engine.connect() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    context.configure(url=context.config.get_main_option("sqlalchemy.url"), target_metadata=metadata,
                      literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
