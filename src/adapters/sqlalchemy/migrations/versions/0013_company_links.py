"""Link tokens and access generations for the companies of a CRM that has no column for them (embedding)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "company_links",
        sa.Column("company_key", sa.String(64), nullable=False),
        sa.Column("link_token", sa.String(64), nullable=True),
        sa.Column("access_generation", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("company_key", name="pk_company_links"),
        sa.UniqueConstraint("link_token", name="uq_company_links_link_token"),
    )


def downgrade() -> None:
    op.drop_table("company_links")
