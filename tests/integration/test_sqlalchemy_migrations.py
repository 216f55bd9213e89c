"""The Alembic migrations: they build, on an empty database, exactly the schema tables.py describes."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from adapters.sqlalchemy.engine import create_engine_from_url
from adapters.sqlalchemy.migrate import MIGRATIONS, current_revision, head_revision, upgrade
from adapters.sqlalchemy.tables import metadata


def test_upgrade_builds_exactly_the_tables_of_tables_py(empty_database_url: str) -> None:
    assert current_revision(empty_database_url) is None
    upgrade(empty_database_url)
    assert current_revision(empty_database_url) == head_revision()
    engine = create_engine_from_url(empty_database_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []
            tables = set(sa.inspect(connection).get_table_names())
    finally:
        engine.dispose()
    assert tables == set(metadata.tables) | {"alembic_version"}


def test_upgrade_again_is_a_no_op(empty_database_url: str) -> None:
    upgrade(empty_database_url)
    upgrade(empty_database_url)
    assert current_revision(empty_database_url) == head_revision()


def test_the_comparison_would_notice_a_difference(sqlite_url: str) -> None:
    upgrade(sqlite_url)
    changed = sa.MetaData()
    for table in metadata.tables.values():
        table.to_metadata(changed)
    sa.Table("extra", changed, sa.Column("id", sa.Integer, primary_key=True))
    engine = create_engine_from_url(sqlite_url)
    try:
        with engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), changed) != []
    finally:
        engine.dispose()


def test_the_migrations_ship_their_template_and_versions() -> None:
    # Non-Python files must sit inside the package so the wheel carries them (hatchling packs the folder).
    assert (MIGRATIONS / "script.py.mako").is_file()
    assert (MIGRATIONS / "env.py").is_file()
    assert any(MIGRATIONS.glob("versions/0001_*.py"))
