"""The engine's PostgreSQL limits: a statement that hangs is cancelled by the server and surfaces as a 503 error."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from adapters.sqlalchemy.engine import POSTGRES_STATEMENT_TIMEOUT_MS, create_engine_from_url
from adapters.sqlalchemy.errors import database_errors
from portal_core.errors import DatabaseUnavailable

pytestmark = pytest.mark.postgres


def test_postgres_connections_carry_a_statement_timeout(postgres_url: str) -> None:
    engine = create_engine_from_url(postgres_url)
    try:
        with engine.connect() as connection:
            shown = connection.exec_driver_sql("SHOW statement_timeout").scalar_one()
        assert shown == f"{POSTGRES_STATEMENT_TIMEOUT_MS // 1000}s"
    finally:
        engine.dispose()


def test_a_cancelled_statement_is_database_unavailable(postgres_url: str) -> None:
    engine = create_engine_from_url(postgres_url)
    try:
        with engine.connect() as connection, pytest.raises(DatabaseUnavailable), database_errors():
            connection.exec_driver_sql("SET statement_timeout = 100")  # the same cancellation, sooner
            connection.execute(sa.text("SELECT pg_sleep(2)"))
    finally:
        engine.dispose()
