"""Payments of several invoices at once: each payment's share of each invoice it pays, one row per invoice.

Every existing payment paid one invoice its whole amount: it gets that one row."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "payment_allocations",
        sa.Column("payment_id", sa.String(32), nullable=False),
        sa.Column("invoice_id", sa.String(32), nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"], name="fk_payment_allocations_payment_id_payments",
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoices.id"], name="fk_payment_allocations_invoice_id_invoices"),
        sa.PrimaryKeyConstraint("payment_id", "invoice_id", name="pk_payment_allocations"),
    )
    op.create_index("ix_payment_allocations_invoice_id", "payment_allocations", ["invoice_id"])
    op.execute("INSERT INTO payment_allocations (payment_id, invoice_id, amount_minor) "
               "SELECT id, invoice_id, amount_minor FROM payments")


def downgrade() -> None:
    op.drop_index("ix_payment_allocations_invoice_id", table_name="payment_allocations")
    op.drop_table("payment_allocations")
