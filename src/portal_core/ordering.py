"""How each kind of record is ordered for a client; the in-memory adapter uses these, SQL adapters mirror them."""

from __future__ import annotations

import datetime as dt

from portal_core.model.documents import ClientRequest, Invoice, Job, Project, Quote, Task, TaskStatus
from portal_core.model.files import File

_LAST_DAY = dt.date.max


def invoice_key(invoice: Invoice, today: dt.date) -> tuple[int, dt.date, str, str]:
    return (0 if invoice.is_overdue(today) else 1, invoice.due_date or _LAST_DAY, invoice.number, invoice.id)


def quote_key(quote: Quote) -> tuple[int, int, str, str]:
    issued = quote.issued_date.toordinal() if quote.issued_date else 0
    return (0 if quote.issued_date else 1, -issued, quote.number, quote.id)


def job_key(job: Job) -> tuple[dt.date, str, str]:
    return (job.scheduled_start or _LAST_DAY, job.title, job.id)


def project_key(project: Project) -> tuple[str, str]:
    return (project.name, project.id)


def task_key(task: Task) -> tuple[int, dt.date, str, str]:
    return (0 if task.status == TaskStatus.OPEN else 1, task.due_date or _LAST_DAY, task.title, task.id)


def request_key(request: ClientRequest) -> tuple[float, str]:
    return (-request.created_at.timestamp(), request.id)


def file_key(file: File) -> tuple[float, str, str]:
    return (-file.attached_at.timestamp(), file.name, file.id)
