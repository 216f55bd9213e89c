"""The schema status of a SQLAlchemy database: Alembic's stamp in the database against the newest migration."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext

from adapters.sqlalchemy.errors import database_errors
from adapters.sqlalchemy.migrate import head_revision


class SqlAlchemySchemaStatus:
    """Reads the stamp through the application's engine (its pool, its timeouts), not a new engine per probe."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._head: str | None = None

    def current_revision(self) -> str | None:
        with database_errors(), self._engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def expected_revision(self) -> str:
        if self._head is None:  # read from the migrations folder once: it cannot change under a running process
            self._head = head_revision()
        return self._head
