"""Attachments of outbox messages: the PDF an invoice or quote notice carries, stored with its message."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox_attachments",
        sa.Column("outbox_id", sa.String(32), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(255), nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
        sa.ForeignKeyConstraint(["outbox_id"], ["outbox.id"], name="fk_outbox_attachments_outbox_id_outbox",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("outbox_id", "position", name="pk_outbox_attachments"),
    )


def downgrade() -> None:
    op.drop_table("outbox_attachments")
