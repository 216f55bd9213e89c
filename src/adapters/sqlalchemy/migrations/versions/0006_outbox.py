"""The mail outbox: every message the portal sends, stored with the change that causes it, delivered after commit."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    when = sa.DateTime(timezone=True)
    op.create_table(
        "outbox",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("message_id", sa.String(255), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("to_addr", sa.String(254), nullable=False),
        sa.Column("reply_to", sa.String(254), nullable=True),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("text_body", sa.Text, nullable=False),
        sa.Column("html_body", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("created_at", when, nullable=False),
        sa.Column("next_attempt_at", when, nullable=False),
        sa.Column("give_up_at", when, nullable=False),
        sa.Column("claimed_until", when, nullable=True),
        sa.Column("sent_at", when, nullable=True),
        sa.Column("last_error", sa.Text, nullable=False),
        sa.Column("company_id", sa.String(32), nullable=True),
        sa.Column("contact_id", sa.String(32), nullable=True),
        sa.Column("subject_ref", sa.String(64), nullable=False),
        sa.Column("audit_action", sa.String(64), nullable=False),
        sa.Column("audit_detail", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.UniqueConstraint("message_id", name="uq_outbox_message_id"),
    )
    op.create_index("ix_outbox_status_next_attempt_at", "outbox", ["status", "next_attempt_at"])
    op.create_index("ix_outbox_subject_ref", "outbox", ["subject_ref"])
    op.create_index("ix_outbox_sent_at", "outbox", ["sent_at"])


def downgrade() -> None:
    op.drop_index("ix_outbox_sent_at", table_name="outbox")
    op.drop_index("ix_outbox_subject_ref", table_name="outbox")
    op.drop_index("ix_outbox_status_next_attempt_at", table_name="outbox")
    op.drop_table("outbox")
