"""Indexes that serve each list's whole order, so a page reads the index in order and stops at the page instead of
sorting all of a company's rows. Each mirrors the ORDER BY of its repository method (repositories.py) exactly:
PostgreSQL matches an index to a query by expression, so the text columns carry COLLATE "C" (code point order, as
Python sorts) and the "unscheduled last" dates the same COALESCE. SQLite's BINARY collation already is code point
order. tests/integration/test_query_plans_pg.py proves that each plan uses its index without a Sort."""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

LAST_DAY = {"postgresql": "DATE '9999-12-31'", "sqlite": "'9999-12-31'"}
C = {"postgresql": ' COLLATE "C"', "sqlite": ""}
# SQLite refuses NULLS LAST in an index; there NULL is the smallest value, so DESC already puts it last.
NULLS_LAST = {"postgresql": " NULLS LAST", "sqlite": ""}

# name, table, and the columns in the order of the list's ORDER BY ({c}: the collation clause, {last}: the last
# day, {nulls_last}: where NULL goes).
INDEXES = [
    ("ix_invoices_company_due_order", "invoices", "company_id, COALESCE(due_date, {last}), number{c}, id{c}"),
    ("ix_quotes_company_issued_order", "quotes", "company_id, issued_date DESC{nulls_last}, number{c}, id{c}"),
    ("ix_jobs_company_start_order", "jobs", "company_id, COALESCE(scheduled_start, {last}), title{c}, id{c}"),
    ("ix_files_company_attached_order", "files", "company_id, attached_at DESC, name{c}, id{c}"),
    ("ix_requests_company_created_order", "requests", "company_id, created_at DESC, id{c}"),
]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for name, table, columns in INDEXES:
        rendered = columns.format(c=C.get(dialect, ""), last=LAST_DAY.get(dialect, "'9999-12-31'"),
                                  nulls_last=NULLS_LAST.get(dialect, ""))
        op.execute(f"CREATE INDEX {name} ON {table} ({rendered})")


def downgrade() -> None:
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
