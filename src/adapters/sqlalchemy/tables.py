"""The portal's database schema as SQLAlchemy Core tables; migrations/versions must match it exactly."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

# Explicit constraint names, so the migrations can name them and a later migration can drop them.
metadata = sa.MetaData(naming_convention={
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
})


class UtcDateTime(sa.TypeDecorator[dt.datetime]):
    """Timezone-aware in and out, stored as UTC: SQLite keeps no offset, so every value is normalised first."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the portal stores timezone-aware times only")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def _id() -> sa.Column[str]:
    return sa.Column("id", sa.String(32), primary_key=True)


def _ref() -> sa.Column[str]:
    return sa.Column("ref", sa.String(255), nullable=True, unique=True)


def _company_id() -> sa.Column[str]:
    return sa.Column("company_id", sa.String(32), sa.ForeignKey("companies.id"), nullable=False, index=True)


business = sa.Table(
    "business", metadata,
    # One row: the check pins the key, so a second business cannot appear.
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("email", sa.String(254), nullable=False),
    sa.Column("about", sa.Text, nullable=False),
    sa.Column("phone", sa.Text, nullable=False),
    sa.Column("address", sa.Text, nullable=False),
    sa.Column("website", sa.Text, nullable=False),
    sa.Column("brand_color", sa.String(7), nullable=False),
    sa.Column("logo_url", sa.Text, nullable=False),
    sa.Column("default_language", sa.String(8), nullable=False, server_default="en"),
    sa.CheckConstraint("id = 1", name="single_row"),
)

companies = sa.Table(
    "companies", metadata,
    _id(),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("link_token", sa.String(64), nullable=False, unique=True),
    sa.Column("portal_enabled", sa.Boolean, nullable=False),
    _ref(),
    # Grows when access is turned off (by the core, or by a trigger when anything else updates the flag):
    # sessions opened under an older generation stay dead.
    sa.Column("access_generation", sa.Integer, nullable=False, server_default="0"),
)

contacts = sa.Table(
    "contacts", metadata,
    _id(),
    _company_id(),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("email", sa.String(254), nullable=False),
    # Emails are compared case-folded; storing the folded form lets the unique constraint enforce that.
    sa.Column("email_key", sa.String(254), nullable=False),
    _ref(),
    sa.Column("language", sa.String(8), nullable=True),  # the contact's choice; NULL: not chosen
    sa.UniqueConstraint("company_id", "email_key"),
)

products = sa.Table(
    "products", metadata,
    _id(),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("unit_price_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    _ref(),
)

projects = sa.Table(
    "projects", metadata,
    _id(),
    _company_id(),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    _ref(),
)

jobs = sa.Table(
    "jobs", metadata,
    _id(),
    _company_id(),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("scheduled_start", sa.Date, nullable=True),
    sa.Column("scheduled_end", sa.Date, nullable=True),
    sa.Column("project_id", sa.String(32), sa.ForeignKey("projects.id"), nullable=True, index=True),
    _ref(),
    sa.Index(None, "company_id", "scheduled_start"),
    sa.Index(None, "company_id", "status"),
)

tasks = sa.Table(
    "tasks", metadata,
    _id(),
    _company_id(),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("job_id", sa.String(32), sa.ForeignKey("jobs.id"), nullable=True, index=True),
    sa.Column("due_date", sa.Date, nullable=True),
    _ref(),
    sa.Index(None, "company_id", "status", "due_date"),
)

quotes = sa.Table(
    "quotes", metadata,
    _id(),
    _company_id(),
    sa.Column("number", sa.String(64), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("issued_date", sa.Date, nullable=True),
    sa.Column("valid_until", sa.Date, nullable=True),
    sa.Column("lines", sa.JSON, nullable=False),
    _ref(),
    sa.Index(None, "company_id", "status", "issued_date"),
)

# Each list's whole order is served by an index of migration 0007 (ix_invoices_company_due_order,
# ix_quotes_company_issued_order, ix_jobs_company_start_order, ix_files_company_attached_order,
# ix_requests_company_created_order; and the partial indexes of the open invoices with nothing left to pay (migration
# 0014, ix_invoices_company_settled_open) and with something left to pay (0015, ix_invoices_company_unpaid_open)).
# They hold per-dialect expressions (COALESCE, COLLATE "C"), so they live in the migrations alone;
# tests/integration/test_sqlalchemy_migrations.py checks that they exist.
invoices = sa.Table(
    "invoices", metadata,
    _id(),
    _company_id(),
    sa.Column("number", sa.String(64), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("issued_date", sa.Date, nullable=True),
    sa.Column("due_date", sa.Date, nullable=True),
    sa.Column("lines", sa.JSON, nullable=False),
    sa.Column("tax_minor", sa.BigInteger, nullable=False),
    sa.Column("amount_paid_minor", sa.BigInteger, nullable=False),
    # Derived (lines + tax), written on every save so "overdue first" can be ordered in SQL.
    sa.Column("total_minor", sa.BigInteger, nullable=False),
    sa.Column("job_id", sa.String(32), sa.ForeignKey("jobs.id"), nullable=True),
    _ref(),
    sa.Index(None, "company_id", "status", "due_date"),
)

requests = sa.Table(
    "requests", metadata,
    _id(),
    _company_id(),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("details", sa.Text, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    # The request outlives the contact who sent it.
    sa.Column("submitted_by", sa.String(32), sa.ForeignKey("contacts.id", ondelete="SET NULL"), nullable=True),
    _ref(),
    sa.Index(None, "company_id", "created_at"),
    sa.Index(None, "created_at", "id"),  # the API's feed of requests, every company's, oldest first
)

files = sa.Table(
    "files", metadata,
    _id(),
    _company_id(),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("content_type", sa.String(255), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("content_hash", sa.String(128), nullable=False),
    sa.Column("attached_at", UtcDateTime, nullable=False),
    sa.Column("job_id", sa.String(32), sa.ForeignKey("jobs.id"), nullable=True, index=True),
    sa.Column("invoice_id", sa.String(32), sa.ForeignKey("invoices.id"), nullable=True, index=True),
    _ref(),
    sa.Index(None, "company_id", "attached_at"),
)

one_time_codes = sa.Table(
    "one_time_codes", metadata,
    _id(),
    # Codes die with their contact: removing a contact must revoke everything it could sign in with.
    sa.Column("contact_id", sa.String(32), sa.ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    _company_id(),
    sa.Column("code_hash", sa.String(64), nullable=False),
    sa.Column("issued_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("failed_attempts", sa.Integer, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    # The sign-in flow that asked for the code (a keyed hash of the browser's flow id); codes from before flows
    # existed carry '' and match no flow.
    sa.Column("flow_key", sa.String(64), nullable=False, server_default=""),
    sa.Index(None, "contact_id", "status"),
    sa.Index(None, "issued_at"),
)

portal_sessions = sa.Table(
    "portal_sessions", metadata,
    # A session id is the sha256 hex of its cookie (64 characters), not a 16-character opaque id.
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("contact_id", sa.String(32), sa.ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False,
              index=True),
    _company_id(),
    sa.Column("link_token", sa.String(64), nullable=False),
    sa.Column("email_key", sa.String(254), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("last_seen_at", UtcDateTime, nullable=False),
    sa.Column("ended_at", UtcDateTime, nullable=True),
    sa.Column("access_generation", sa.Integer, nullable=False, server_default="0"),
    sa.Index(None, "last_seen_at"),
)

login_requests = sa.Table(
    "login_requests", metadata,
    # A surrogate key: the same throttle key may be recorded twice in one instant.
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(64), nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Index(None, "key", "at"),
    sa.Index(None, "at"),
)

audit_log = sa.Table(
    "audit_log", metadata,
    _id(),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    # No foreign keys: the audit trail must survive the removal of what it talks about.
    sa.Column("company_id", sa.String(32), nullable=True),
    sa.Column("contact_id", sa.String(32), nullable=True),
    sa.Column("ip", sa.String(64), nullable=True),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Index(None, "company_id", "at"),
    sa.Index(None, "at"),
)

notices = sa.Table(
    "notices", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    # No foreign key: the document is an invoice or a quote.
    sa.Column("document_id", sa.String(32), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("sent_at", UtcDateTime, nullable=False),
    sa.Index(None, "document_id", "kind", "sent_at"),
)

payments = sa.Table(
    "payments", metadata,
    _id(),
    sa.Column("invoice_id", sa.String(32), sa.ForeignKey("invoices.id"), nullable=False, index=True),
    _company_id(),
    # The payment outlives the contact who started it.
    sa.Column("contact_id", sa.String(32), sa.ForeignKey("contacts.id", ondelete="SET NULL"), nullable=True),
    sa.Column("provider", sa.String(16), nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    # Unique: one provider session or order can be credited to one payment only, ever.
    sa.Column("provider_ref", sa.String(255), nullable=True, unique=True),
    sa.Column("attempt_key", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("settled_at", UtcDateTime, nullable=True),
    sa.Column("received_minor", sa.BigInteger, nullable=True),
    sa.Column("received_currency", sa.String(3), nullable=True),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("checkout_url", sa.Text, nullable=True),
    sa.Column("expires_at", UtcDateTime, nullable=True),
    sa.Index(None, "status", "created_at"),
    sa.Index(None, "status", "settled_at", "id"),  # the API's feed of confirmed payments
)

payment_allocations = sa.Table(
    "payment_allocations", metadata,
    # What one payment credits to each invoice it pays (one row for a payment of one invoice): the invoice's
    # outstanding amount when the attempt was made, in the payment's currency.
    sa.Column("payment_id", sa.String(32), sa.ForeignKey("payments.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("invoice_id", sa.String(32), sa.ForeignKey("invoices.id"), primary_key=True),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Index(None, "invoice_id"),
)

payment_providers = sa.Table(
    "payment_providers", metadata,
    sa.Column("provider", sa.String(16), primary_key=True),
    # A Fernet token: the credentials encrypted with a key derived from PORTAL_SECRET_KEY.
    sa.Column("sealed_credentials", sa.Text, nullable=False),
    sa.Column("connected_at", UtcDateTime, nullable=False),
)

processed_events = sa.Table(
    "processed_events", metadata,
    # The key is the point: a provider's event id can be inserted once, so it is processed once.
    sa.Column("provider", sa.String(16), primary_key=True),
    sa.Column("event_id", sa.String(255), primary_key=True),
    sa.Column("processed_at", UtcDateTime, nullable=False),
    sa.Index(None, "processed_at"),
)

outbox = sa.Table(
    "outbox", metadata,
    _id(),
    sa.Column("message_id", sa.String(255), nullable=False, unique=True),
    sa.Column("purpose", sa.String(32), nullable=False),
    sa.Column("to_addr", sa.String(254), nullable=False),
    sa.Column("reply_to", sa.String(254), nullable=True),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("text_body", sa.Text, nullable=False),
    sa.Column("html_body", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("next_attempt_at", UtcDateTime, nullable=False),
    sa.Column("give_up_at", UtcDateTime, nullable=False),
    sa.Column("claimed_until", UtcDateTime, nullable=True),
    sa.Column("sent_at", UtcDateTime, nullable=True),
    sa.Column("last_error", sa.Text, nullable=False),
    # No foreign keys: a message outlives the contact or company it was about (and is pruned once sent).
    sa.Column("company_id", sa.String(32), nullable=True),
    sa.Column("contact_id", sa.String(32), nullable=True),
    sa.Column("subject_ref", sa.String(64), nullable=False),
    sa.Column("audit_action", sa.String(64), nullable=False),
    sa.Column("audit_detail", sa.Text, nullable=False),
    sa.Index(None, "status", "next_attempt_at"),
    sa.Index(None, "subject_ref"),
    sa.Index(None, "sent_at"),
)

outbox_attachments = sa.Table(
    "outbox_attachments", metadata,
    # Kept with their message (and deleted with it), so a retry sends exactly what the first try did.
    sa.Column("outbox_id", sa.String(32), sa.ForeignKey("outbox.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("filename", sa.String(255), nullable=False),
    sa.Column("content_type", sa.String(255), nullable=False),
    sa.Column("content", sa.LargeBinary, nullable=False),
)

api_keys = sa.Table(
    "api_keys", metadata,
    _id(),
    sa.Column("name", sa.String(64), nullable=False),
    # HMAC-SHA-256 of the key under a key derived from PORTAL_SECRET_KEY (portal_core.api_keys); never the key.
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("last_used_at", UtcDateTime, nullable=True),
    sa.Column("revoked_at", UtcDateTime, nullable=True),
)

webhooks = sa.Table(
    "webhooks", metadata,
    _id(),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("events", sa.Text, nullable=False),  # comma-separated event types
    sa.Column("created_at", UtcDateTime, nullable=False),
    # No secret: each webhook's is derived from PORTAL_SECRET_KEY and its id (portal_core.webhooks).
)

webhook_deliveries = sa.Table(
    "webhook_deliveries", metadata,
    _id(),
    # No foreign key: a delivery of a removed webhook is given up by the next dispatcher, then pruned.
    sa.Column("webhook_id", sa.String(32), nullable=False),
    sa.Column("event_id", sa.String(64), nullable=False),
    sa.Column("event_type", sa.String(32), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("next_attempt_at", UtcDateTime, nullable=False),
    sa.Column("give_up_at", UtcDateTime, nullable=False),
    sa.Column("claimed_until", UtcDateTime, nullable=True),
    sa.Column("sent_at", UtcDateTime, nullable=True),
    sa.Column("last_error", sa.Text, nullable=False),
    sa.Index(None, "status", "next_attempt_at"),
    sa.Index(None, "webhook_id", "created_at"),
    sa.Index(None, "created_at"),
)

# For an embedding over a CRM with no column for link tokens (adapters.sqlalchemy.embedding.CompanyLinks): a
# company's link token once rotated (NULL: the token derived from the portal's secret), and the generation its access
# is in (a trigger on the CRM's own portal flag bumps it when access is turned off, so sessions from before stay dead
# when it is turned back on). A company with no row has its derived token and generation 0.
company_links = sa.Table(
    "company_links", metadata,
    sa.Column("company_key", sa.String(64), primary_key=True),  # the CRM's key of the company, as text
    sa.Column("link_token", sa.String(64), nullable=True, unique=True),
    sa.Column("access_generation", sa.Integer, nullable=False),
)
