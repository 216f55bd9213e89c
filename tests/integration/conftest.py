"""Database fixtures for the integration tests: a SQLite file, a throwaway PostgreSQL schema, engines, units of work."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from adapters.sqlalchemy.engine import create_engine_from_url
from adapters.sqlalchemy.migrate import upgrade
from adapters.sqlalchemy.tables import metadata
from adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWork

POSTGRES_ENV = "PORTAL_TEST_DATABASE_URL"


def postgres_base_url() -> str:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"PostgreSQL tests need {POSTGRES_ENV}, e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test")
    return url


@contextmanager
def postgres_schema(base_url: str) -> Iterator[str]:
    """A new, empty schema; yields a URL whose connections use it (search_path), and drops it afterwards."""
    name = f"test_{secrets.token_hex(6)}"
    admin = sa.create_engine(base_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{name}"')
        try:
            url = sa.make_url(base_url).update_query_dict({"options": f"-csearch_path={name}"})
            yield url.render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.exec_driver_sql(f'DROP SCHEMA "{name}" CASCADE')
    finally:
        admin.dispose()


def wipe(engine: sa.Engine) -> None:
    """Deletes every row (children first), keeping the schema and its migration stamp."""
    with engine.begin() as connection:
        for table in reversed(metadata.sorted_tables):
            connection.execute(table.delete())


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """An empty SQLite database file of this test."""
    return f"sqlite:///{tmp_path / 'portal.db'}"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """An empty PostgreSQL schema shared by the session; skipped when PORTAL_TEST_DATABASE_URL is unset."""
    with postgres_schema(postgres_base_url()) as url:
        yield url


@contextmanager
def migrated_database(request: pytest.FixtureRequest, kind: str) -> Iterator[str]:
    """A migrated, empty database of `kind` (sqlite or postgres), emptied again afterwards."""
    url: str = request.getfixturevalue(f"{kind}_url")
    upgrade(url)
    yield url
    if kind == "postgres":  # the schema outlives the test: empty it for the next one
        engine = create_engine_from_url(url)
        try:
            wipe(engine)
        finally:
            engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A migrated, empty database, once on SQLite and once on PostgreSQL."""
    with migrated_database(request, request.param) as url:
        yield url


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """Where the portal keeps its records, once in each store: in memory, SQLite and PostgreSQL (the web tests run
    on all three, so a page that works only over the fakes fails)."""
    if request.param == "memory":
        yield "memory://"
        return
    with migrated_database(request, request.param) as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_database_url(request: pytest.FixtureRequest, sqlite_url: str) -> Iterator[str]:
    """A database with no tables at all (for migration tests), on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        yield sqlite_url
        return
    with postgres_schema(postgres_base_url()) as url:  # its own schema: the session's is already migrated
        yield url


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    engine = create_engine_from_url(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def uow(engine: sa.Engine) -> SqlAlchemyUnitOfWork:
    return SqlAlchemyUnitOfWork(engine)
