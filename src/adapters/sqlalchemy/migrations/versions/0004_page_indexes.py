"""Indexes for the portal's pages: each list filters by company (and status) and orders by a date; the detail pages
find a job's tasks and a project's jobs."""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

INDEXES = [
    ("ix_quotes_company_id_status_issued_date", "quotes", ["company_id", "status", "issued_date"]),
    ("ix_jobs_company_id_status", "jobs", ["company_id", "status"]),
    ("ix_jobs_project_id", "jobs", ["project_id"]),
    ("ix_tasks_company_id_status_due_date", "tasks", ["company_id", "status", "due_date"]),
    ("ix_tasks_job_id", "tasks", ["job_id"]),
    ("ix_requests_company_id_created_at", "requests", ["company_id", "created_at"]),
    ("ix_files_company_id_attached_at", "files", ["company_id", "attached_at"]),
]


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
