"""Notices: when each invoice's or quote's notice or reminder went out (at most one reminder a day)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notices",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("document_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_notices"),
    )
    op.create_index("ix_notices_document_id_kind_sent_at", "notices", ["document_id", "kind", "sent_at"])


def downgrade() -> None:
    op.drop_index("ix_notices_document_id_kind_sent_at", table_name="notices")
    op.drop_table("notices")
