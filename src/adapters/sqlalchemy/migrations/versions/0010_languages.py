"""Languages: a contact's chosen language (none until chosen) and the business's default (English until set)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(sa.Column("language", sa.String(8), nullable=True))
    with op.batch_alter_table("business") as batch:
        batch.add_column(sa.Column("default_language", sa.String(8), nullable=False, server_default="en"))


def downgrade() -> None:
    with op.batch_alter_table("business") as batch:
        batch.drop_column("default_language")
    with op.batch_alter_table("contacts") as batch:
        batch.drop_column("language")
