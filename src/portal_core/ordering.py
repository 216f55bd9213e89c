"""How each kind of record is ordered for a client; the in-memory adapter uses these, SQL adapters mirror them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from portal_core.model.documents import ClientRequest, Invoice, Job, Project, Quote, Task, TaskStatus
from portal_core.model.files import File

_LAST_DAY = dt.date.max


def invoice_key(invoice: Invoice, today: dt.date) -> tuple[int, dt.date, str, str]:
    return (0 if invoice.is_overdue(today) else 1, invoice.due_date or _LAST_DAY, invoice.number, invoice.id)


def quote_key(quote: Quote) -> tuple[int, int, str, str]:
    issued = quote.issued_date.toordinal() if quote.issued_date else 0
    return (0 if quote.issued_date else 1, -issued, quote.number, quote.id)


def expiring_quote_key(quote: Quote) -> tuple[dt.date, str, str]:
    return (quote.valid_until or _LAST_DAY, quote.number, quote.id)


def awaiting_quotes(quotes: Iterable[Quote], today: dt.date, expiring_by: dt.date, limit: int) -> list[Quote]:
    """QuoteRepository.list_awaiting over quotes already read: the `limit` newest awaiting review and the `limit` of
    them expiring soonest by `expiring_by`, each once, newest first."""
    awaiting = sorted((q for q in quotes if q.awaiting_review(today)), key=quote_key)
    return sorted({q.id: q for q in [*awaiting[:limit], *expiring_quotes(awaiting, expiring_by)[:limit]]}.values(),
                  key=quote_key)


def expiring_quotes(quotes: Iterable[Quote], expiring_by: dt.date) -> list[Quote]:
    """Those of the quotes that lapse on or before `expiring_by`, the soonest first."""
    return sorted((q for q in quotes if q.valid_until is not None and q.valid_until <= expiring_by),
                  key=expiring_quote_key)


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
