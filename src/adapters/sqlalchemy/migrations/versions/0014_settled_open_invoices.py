"""An index of the open invoices with nothing left to pay, in the invoice list's order (issue 14).

The invoice list reads "not overdue" in two parts, each in index order: those due today or later (the list's index,
from today on) and those due before today that are not overdue. For a list of open invoices only (the home page),
the second part is the open invoices with nothing outstanding, which are rare; without this index PostgreSQL walked
every past-due invoice of the company to find none. Its predicate is the very clauses the query states, so the
planner can prove it applies (tests/integration/test_query_plans_pg.py)."""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

LAST_DAY = {"postgresql": "DATE '9999-12-31'", "sqlite": "'9999-12-31'"}
C = {"postgresql": ' COLLATE "C"', "sqlite": ""}
NAME = "ix_invoices_company_settled_open"


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    last, c = LAST_DAY.get(dialect, "'9999-12-31'"), C.get(dialect, "")
    op.execute(f"CREATE INDEX {NAME} ON invoices (company_id, COALESCE(due_date, {last}), number{c}, id{c}) "
               "WHERE status IN ('sent', 'partially_paid') AND total_minor <= amount_paid_minor")


def downgrade() -> None:
    op.drop_index(NAME, table_name="invoices")
