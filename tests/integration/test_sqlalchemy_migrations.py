"""The Alembic migrations: they build, on an empty database, exactly the schema tables.py describes."""

from __future__ import annotations

import warnings

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from adapters.sqlalchemy.engine import create_engine_from_url
from adapters.sqlalchemy.migrate import MIGRATIONS, current_revision, head_revision, upgrade
from adapters.sqlalchemy.tables import metadata

ORDERED_INDEXES = {"ix_invoices_company_due_order", "ix_quotes_company_issued_order", "ix_jobs_company_start_order",
                   "ix_files_company_attached_order", "ix_requests_company_created_order",
                   "ix_invoices_company_settled_open", "ix_invoices_company_unpaid_open"}


def _compare(context: MigrationContext, wanted: sa.MetaData) -> list[object]:
    with warnings.catch_warnings():  # SQLite's reflection skips the expression indexes, with a warning
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based index")
        return list(compare_metadata(context, wanted))


def _ordered_indexes_are_left_to_the_migration(diff: list[object]) -> list[object]:
    """Migration 0007's indexes hold expressions (COALESCE, COLLATE "C") per dialect, so tables.py names them in a
    comment rather than as Index objects; the test below checks that they exist."""
    return [d for d in diff if not (isinstance(d, tuple) and d[0] == "remove_index" and d[1].name in ORDERED_INDEXES)]


def test_upgrade_builds_exactly_the_tables_of_tables_py(empty_database_url: str) -> None:
    assert current_revision(empty_database_url) is None
    upgrade(empty_database_url)
    assert current_revision(empty_database_url) == head_revision()
    engine = create_engine_from_url(empty_database_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert _ordered_indexes_are_left_to_the_migration(_compare(context, metadata)) == []
            tables = set(sa.inspect(connection).get_table_names())
            if connection.dialect.name == "postgresql":
                names = {row[0] for row in connection.exec_driver_sql("SELECT indexname FROM pg_indexes")}
            else:
                names = {row[0] for row in connection.exec_driver_sql(
                    "SELECT name FROM sqlite_master WHERE type = 'index'")}
    finally:
        engine.dispose()
    assert tables == set(metadata.tables) | {"alembic_version"}
    assert ORDERED_INDEXES <= names


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
            assert _compare(MigrationContext.configure(connection), changed) != []
    finally:
        engine.dispose()


def test_the_migrations_ship_their_template_and_versions() -> None:
    # Non-Python files must sit inside the package so the wheel carries them (hatchling packs the folder).
    assert (MIGRATIONS / "script.py.mako").is_file()
    assert (MIGRATIONS / "env.py").is_file()
    assert any(MIGRATIONS.glob("versions/0001_*.py"))
