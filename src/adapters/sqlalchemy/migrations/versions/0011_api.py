"""The business-side API: its keys (stored as keyed hashes), and the indexes its two feeds read in order."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
    )
    op.create_index("ix_requests_created_at_id", "requests", ["created_at", "id"])
    op.create_index("ix_payments_status_settled_at_id", "payments", ["status", "settled_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_payments_status_settled_at_id", table_name="payments")
    op.drop_index("ix_requests_created_at_id", table_name="requests")
    op.drop_table("api_keys")
