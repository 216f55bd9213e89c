"""Hardening: codes belong to a sign-in flow, sessions to an access generation (kept by a trigger too), Pay Now
reuses an open attempt's page, and indexes for pruning by age."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

INDEXES = [
    ("ix_one_time_codes_issued_at", "one_time_codes", ["issued_at"]),
    ("ix_portal_sessions_last_seen_at", "portal_sessions", ["last_seen_at"]),
    ("ix_login_requests_at", "login_requests", ["at"]),
    ("ix_audit_log_at", "audit_log", ["at"]),
    ("ix_processed_events_processed_at", "processed_events", ["processed_at"]),
]

# Whoever turns access off without going through the core (an embedding CRM writing the table, an operator's SQL)
# still ends the sessions: the trigger moves the generation on unless the update already did.
POSTGRES_TRIGGER = [
    """
    CREATE FUNCTION portal_access_generation() RETURNS trigger AS $$
    BEGIN
        IF OLD.portal_enabled AND NOT NEW.portal_enabled AND NEW.access_generation = OLD.access_generation THEN
            NEW.access_generation := OLD.access_generation + 1;
        END IF;
        RETURN NEW;
    END
    $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER companies_access_generation BEFORE UPDATE ON companies
    FOR EACH ROW EXECUTE FUNCTION portal_access_generation()
    """,
]
SQLITE_TRIGGER = [
    """
    CREATE TRIGGER companies_access_generation AFTER UPDATE OF portal_enabled ON companies
    FOR EACH ROW WHEN OLD.portal_enabled AND NOT NEW.portal_enabled
                      AND NEW.access_generation = OLD.access_generation
    BEGIN
        UPDATE companies SET access_generation = OLD.access_generation + 1 WHERE id = NEW.id;
    END
    """,
]


def upgrade() -> None:
    op.add_column("companies", sa.Column("access_generation", sa.Integer, nullable=False, server_default="0"))
    op.add_column("portal_sessions", sa.Column("access_generation", sa.Integer, nullable=False, server_default="0"))
    op.add_column("one_time_codes", sa.Column("flow_key", sa.String(64), nullable=False, server_default=""))
    op.add_column("payments", sa.Column("checkout_url", sa.Text, nullable=True))
    op.add_column("payments", sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)
    for statement in POSTGRES_TRIGGER if op.get_bind().dialect.name == "postgresql" else SQLITE_TRIGGER:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TRIGGER companies_access_generation" +
               (" ON companies" if op.get_bind().dialect.name == "postgresql" else ""))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION portal_access_generation()")
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    with op.batch_alter_table("payments") as batch:
        batch.drop_column("expires_at")
        batch.drop_column("checkout_url")
    with op.batch_alter_table("one_time_codes") as batch:
        batch.drop_column("flow_key")
    with op.batch_alter_table("portal_sessions") as batch:
        batch.drop_column("access_generation")
    with op.batch_alter_table("companies") as batch:
        batch.drop_column("access_generation")
