"""The initial schema: the business, companies, contacts, their records, sign-in codes, sessions, throttle and audit."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _datetime() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("at", _datetime(), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("company_id", sa.String(32), nullable=True),
        sa.Column("contact_id", sa.String(32), nullable=True),
        sa.Column("ip", sa.String(64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_company_id_at", "audit_log", ["company_id", "at"])

    op.create_table(
        "business",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("about", sa.Text(), nullable=False),
        sa.Column("phone", sa.Text(), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("website", sa.Text(), nullable=False),
        sa.Column("brand_color", sa.String(7), nullable=False),
        sa.Column("logo_url", sa.Text(), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_business_single_row"),
        sa.PrimaryKeyConstraint("id", name="pk_business"),
    )

    op.create_table(
        "companies",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("link_token", sa.String(64), nullable=False),
        sa.Column("portal_enabled", sa.Boolean(), nullable=False),
        sa.Column("ref", sa.String(255), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_companies"),
        sa.UniqueConstraint("link_token", name="uq_companies_link_token"),
        sa.UniqueConstraint("ref", name="uq_companies_ref"),
    )

    op.create_table(
        "login_requests",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("at", _datetime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_login_requests"),
    )
    op.create_index("ix_login_requests_key_at", "login_requests", ["key", "at"])

    op.create_table(
        "products",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("unit_price_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("ref", sa.String(255), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_products"),
        sa.UniqueConstraint("ref", name="uq_products_ref"),
    )

    op.create_table(
        "contacts",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("company_id", sa.String(32), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("email_key", sa.String(254), nullable=False),
        sa.Column("ref", sa.String(255), nullable=True),
        sa.ForeignKeyConstraint(["company_id"], ["companies.id"], name="fk_contacts_company_id_companies"),
        sa.PrimaryKeyConstraint("id", name="pk_contacts"),
        sa.UniqueConstraint("company_id", "email_key", name="uq_contacts_company_id_email_key"),
        sa.UniqueConstraint("ref", name="uq_contacts_ref"),
    )
    op.create_index("ix_contacts_company_id", "contacts", ["company_id"])

    op.create_table(
        "projects",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("company_id", sa.String(32), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("ref", sa.String(255), nullable=True),
        sa.ForeignKeyConstraint(["company_id"], ["companies.id"], name="fk_projects_company_id_companies"),
        sa.PrimaryKeyConstraint("id", name="pk_projects"),
        sa.UniqueConstraint("ref", name="uq_projects_ref"),
    )
    op.create_index("ix_projects_company_id", "projects", ["company_id"])

    op.create_table(
        "quotes",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("company_id", sa.String(32), nullable=False),
        sa.Column("number", sa.String(64), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("issued_date", sa.Date(), nullable=True),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("ref", sa.String(255), nullable=True),
        sa.ForeignKeyConstraint(["company_id"], ["companies.id"], name="fk_quotes_company_id_companies"),
        sa.PrimaryKeyConstraint("id", name="pk_quotes"),
        sa.UniqueConstraint("ref", name="uq_quotes_ref"),
    )
    op.create_index("ix_quotes_company_id", "quotes", ["company_id"])

    op.create_table(
        "jobs",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("company_id", sa.String(32), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("scheduled_start", sa.Date(), nullable=True),
        sa.Column("scheduled_end", sa.Date(), nullable=True),
        sa.Column("project_id", sa.String(32), nullable=True),
        sa.Column("ref", sa.String(255), nullable=True),
        sa.ForeignKeyConstraint(["company_id"], ["companies.id"], name="fk_jobs_company_id_companies"),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name="fk_jobs_project_id_projects"),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
        sa.UniqueConstraint("ref", name="uq_jobs_ref"),
    )
    op.create_index("ix_jobs_company_id", "jobs", ["company_id"])
    op.create_index("ix_jobs_company_id_scheduled_start", "jobs", ["company_id", "scheduled_start"])

    op.create_table(
        "one_time_codes",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("contact_id", sa.String(32), nullable=False),
        sa.Column("company_id", sa.String(32), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("issued_at", _datetime(), nullable=False),
        sa.Column("expires_at", _datetime(), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.ForeignKeyConstraint(["company_id"], ["companies.id"], name="fk_one_time_codes_company_id_companies"),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], name="fk_one_time_codes_contact_id_contacts",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_one_time_codes"),
    )
    op.create_index("ix_one_time_codes_company_id", "one_time_codes", ["company_id"])
    op.create_index("ix_one_time_codes_contact_id_status", "one_time_codes", ["contact_id", "status"])

    op.create_table(
        "portal_sessions",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("contact_id", sa.String(32), nullable=False),
        sa.Column("company_id", sa.String(32), nullable=False),
        sa.Column("link_token", sa.String(64), nullable=False),
        sa.Column("email_key", sa.String(254), nullable=False),
        sa.Column("created_at", _datetime(), nullable=False),
        sa.Column("last_seen_at", _datetime(), nullable=False),
        sa.Column("ended_at", _datetime(), nullable=True),
        sa.ForeignKeyConstraint(["company_id"], ["companies.id"], name="fk_portal_sessions_company_id_companies"),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], name="fk_portal_sessions_contact_id_contacts",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_portal_sessions"),
    )
    op.create_index("ix_portal_sessions_company_id", "portal_sessions", ["company_id"])
    op.create_index("ix_portal_sessions_contact_id", "portal_sessions", ["contact_id"])

    op.create_table(
        "requests",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("company_id", sa.String(32), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_at", _datetime(), nullable=False),
        sa.Column("submitted_by", sa.String(32), nullable=True),
        sa.Column("ref", sa.String(255), nullable=True),
        sa.ForeignKeyConstraint(["company_id"], ["companies.id"], name="fk_requests_company_id_companies"),
        sa.ForeignKeyConstraint(["submitted_by"], ["contacts.id"], name="fk_requests_submitted_by_contacts",
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name="pk_requests"),
        sa.UniqueConstraint("ref", name="uq_requests_ref"),
    )
    op.create_index("ix_requests_company_id", "requests", ["company_id"])

    op.create_table(
        "invoices",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("company_id", sa.String(32), nullable=False),
        sa.Column("number", sa.String(64), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("issued_date", sa.Date(), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("tax_minor", sa.BigInteger(), nullable=False),
        sa.Column("amount_paid_minor", sa.BigInteger(), nullable=False),
        sa.Column("total_minor", sa.BigInteger(), nullable=False),
        sa.Column("job_id", sa.String(32), nullable=True),
        sa.Column("ref", sa.String(255), nullable=True),
        sa.ForeignKeyConstraint(["company_id"], ["companies.id"], name="fk_invoices_company_id_companies"),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name="fk_invoices_job_id_jobs"),
        sa.PrimaryKeyConstraint("id", name="pk_invoices"),
        sa.UniqueConstraint("ref", name="uq_invoices_ref"),
    )
    op.create_index("ix_invoices_company_id", "invoices", ["company_id"])
    op.create_index("ix_invoices_company_id_status_due_date", "invoices", ["company_id", "status", "due_date"])

    op.create_table(
        "tasks",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("company_id", sa.String(32), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("job_id", sa.String(32), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("ref", sa.String(255), nullable=True),
        sa.ForeignKeyConstraint(["company_id"], ["companies.id"], name="fk_tasks_company_id_companies"),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name="fk_tasks_job_id_jobs"),
        sa.PrimaryKeyConstraint("id", name="pk_tasks"),
        sa.UniqueConstraint("ref", name="uq_tasks_ref"),
    )
    op.create_index("ix_tasks_company_id", "tasks", ["company_id"])

    op.create_table(
        "files",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("company_id", sa.String(32), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("content_type", sa.String(255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("content_hash", sa.String(128), nullable=False),
        sa.Column("attached_at", _datetime(), nullable=False),
        sa.Column("job_id", sa.String(32), nullable=True),
        sa.Column("invoice_id", sa.String(32), nullable=True),
        sa.Column("ref", sa.String(255), nullable=True),
        sa.ForeignKeyConstraint(["company_id"], ["companies.id"], name="fk_files_company_id_companies"),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoices.id"], name="fk_files_invoice_id_invoices"),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name="fk_files_job_id_jobs"),
        sa.PrimaryKeyConstraint("id", name="pk_files"),
        sa.UniqueConstraint("ref", name="uq_files_ref"),
    )
    op.create_index("ix_files_company_id", "files", ["company_id"])
    op.create_index("ix_files_invoice_id", "files", ["invoice_id"])
    op.create_index("ix_files_job_id", "files", ["job_id"])


def downgrade() -> None:
    for table in ("files", "tasks", "invoices", "requests", "portal_sessions", "one_time_codes", "jobs", "quotes",
                  "projects", "contacts", "products", "login_requests", "companies", "business", "audit_log"):
        op.drop_table(table)  # their indexes go with them
