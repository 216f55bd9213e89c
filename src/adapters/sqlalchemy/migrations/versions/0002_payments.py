"""Online payments: payment attempts, connected providers (encrypted credentials), processed provider events."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _datetime() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "payments",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("invoice_id", sa.String(32), nullable=False),
        sa.Column("company_id", sa.String(32), nullable=False),
        sa.Column("contact_id", sa.String(32), nullable=True),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("provider_ref", sa.String(255), nullable=True),
        sa.Column("attempt_key", sa.String(64), nullable=False),
        sa.Column("created_at", _datetime(), nullable=False),
        sa.Column("settled_at", _datetime(), nullable=True),
        sa.Column("received_minor", sa.BigInteger(), nullable=True),
        sa.Column("received_currency", sa.String(3), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoices.id"], name="fk_payments_invoice_id_invoices"),
        sa.ForeignKeyConstraint(["company_id"], ["companies.id"], name="fk_payments_company_id_companies"),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], name="fk_payments_contact_id_contacts",
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name="pk_payments"),
        sa.UniqueConstraint("provider_ref", name="uq_payments_provider_ref"),
        sa.UniqueConstraint("attempt_key", name="uq_payments_attempt_key"),
    )
    op.create_index("ix_payments_invoice_id", "payments", ["invoice_id"])
    op.create_index("ix_payments_company_id", "payments", ["company_id"])
    op.create_index("ix_payments_status_created_at", "payments", ["status", "created_at"])

    op.create_table(
        "payment_providers",
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("sealed_credentials", sa.Text(), nullable=False),
        sa.Column("connected_at", _datetime(), nullable=False),
        sa.PrimaryKeyConstraint("provider", name="pk_payment_providers"),
    )

    op.create_table(
        "processed_events",
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("event_id", sa.String(255), nullable=False),
        sa.Column("processed_at", _datetime(), nullable=False),
        sa.PrimaryKeyConstraint("provider", "event_id", name="pk_processed_events"),
    )


def downgrade() -> None:
    op.drop_table("processed_events")
    op.drop_table("payment_providers")
    op.drop_index("ix_payments_status_created_at", table_name="payments")
    op.drop_index("ix_payments_company_id", table_name="payments")
    op.drop_index("ix_payments_invoice_id", table_name="payments")
    op.drop_table("payments")
