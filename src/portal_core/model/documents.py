"""What a client sees: invoices, quotes, jobs, projects, tasks, requests, and the business's catalogue."""

from __future__ import annotations

import datetime as dt
import enum
import functools
from decimal import Decimal

import attrs

from portal_core.errors import InvalidAmount, InvalidInput, InvalidTransition
from portal_core.model.money import Money, exponent, total_of


class InvoiceStatus(enum.StrEnum):
    DRAFT = "draft"
    SENT = "sent"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    VOID = "void"


class QuoteStatus(enum.StrEnum):
    DRAFT = "draft"
    SENT = "sent"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"


class JobStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    ON_HOLD = "on_hold"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


ACTIVE_JOB_STATUSES = frozenset({JobStatus.SCHEDULED, JobStatus.IN_PROGRESS, JobStatus.ON_HOLD})


class ProjectStatus(enum.StrEnum):
    ACTIVE = "active"
    ON_HOLD = "on_hold"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class TaskStatus(enum.StrEnum):
    OPEN = "open"
    DONE = "done"


class RequestStatus(enum.StrEnum):
    NEW = "new"
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    CLOSED = "closed"


@attrs.frozen(cache_hash=True)  # hashed once: _lines_total is cached by the lines
class Line:
    description: str
    quantity: Decimal
    unit_price: Money

    @property
    def amount(self) -> Money:
        return self.unit_price.times(self.quantity)


def _currency(value: str) -> str:
    exponent(value)  # a document in an unknown currency is refused up front (UnknownCurrency), as Money does
    return value.strip().upper()


@functools.lru_cache(maxsize=4096)
def _lines_total(lines: tuple[Line, ...], currency: str) -> Money:
    # A page asks each document for its total, outstanding and state several times; the lines are immutable values,
    # so the sum (a Decimal product and a Money per line) is computed once for equal lines.
    return total_of([line.amount for line in lines], currency)


@functools.lru_cache(maxsize=4096)
def _invoice_amounts(lines: tuple[Line, ...], currency: str, tax: Money, amount_paid: Money) -> tuple[Money, Money]:
    # An invoice's total and what is left to pay, from its values (immutable, so equal values share the result): a
    # list row asks for them half a dozen times (its state, its amounts, its Pay Now), and an invoice may change.
    total = _lines_total(lines, currency) + tax
    left = total - amount_paid
    return total, left if left.minor > 0 else Money.zero(currency)


def day_text(value: dt.date) -> str:
    """A date as staff read it in messages: 5 Dec 2026."""
    return f"{value.day} {value:%b %Y}"


# The statuses a confirmed payment may be credited to (a paid invoice too: the amount check refuses an overpayment).
CREDITABLE = (InvoiceStatus.SENT, InvoiceStatus.PARTIALLY_PAID, InvoiceStatus.PAID)


@attrs.define(kw_only=True)
class Invoice:
    id: str
    company_id: str
    number: str
    status: InvoiceStatus
    currency: str = attrs.field(converter=_currency)
    issued_date: dt.date | None
    due_date: dt.date | None
    lines: tuple[Line, ...] = ()
    tax: Money
    amount_paid: Money
    job_id: str | None = None
    ref: str | None = None

    def __attrs_post_init__(self) -> None:
        for money in (self.tax, self.amount_paid, *(line.unit_price for line in self.lines)):
            if money.currency != self.currency:
                raise InvalidInput(f"invoice {self.number}: amounts must all be in {self.currency}")
        for what, money in (("tax", self.tax), ("amount paid", self.amount_paid)):
            if money.minor < 0:
                raise InvalidAmount(f"invoice {self.number}: the {what} cannot be below zero")
        if self.issued_date and self.due_date and self.due_date < self.issued_date:
            raise InvalidInput(f"invoice {self.number}: due date {self.due_date} is before issue date "
                               f"{self.issued_date}")

    @property
    def total(self) -> Money:
        return _invoice_amounts(self.lines, self.currency, self.tax, self.amount_paid)[0]

    @property
    def outstanding(self) -> Money:
        return _invoice_amounts(self.lines, self.currency, self.tax, self.amount_paid)[1]

    @property
    def is_open(self) -> bool:
        """Sent or partially paid with something left to pay: the invoices a client can pay."""
        return self.status in (InvoiceStatus.SENT, InvoiceStatus.PARTIALLY_PAID) and self.outstanding.is_positive

    def is_overdue(self, today: dt.date) -> bool:
        return self.is_open and self.due_date is not None and self.due_date < today

    # ---- transitions: the only places the status changes -----------------------------------------------------

    def send(self, today: dt.date) -> bool:
        """A draft becomes sent, issued today unless it has an issue date; returns True. A sent or partly paid
        invoice stays as it is (its notice may go again); returns False. Raises InvalidTransition for a void or paid
        invoice, and for a due date before the issue date."""
        if self.status == InvoiceStatus.VOID:
            raise InvalidTransition(f"invoice {self.number} is void: it cannot be sent")
        if self.status == InvoiceStatus.PAID:
            raise InvalidTransition(f"invoice {self.number} is paid in full: there is nothing to send "
                                    "(its client still sees it in the portal)")
        if self.status != InvoiceStatus.DRAFT:
            return False
        issued = self.issued_date or today
        if self.due_date is not None and self.due_date < issued:
            raise InvalidTransition(f"invoice {self.number} is due {day_text(self.due_date)}, before its issue "
                                    f"date {day_text(issued)}: set a later due date before sending it")
        self.issued_date, self.status = issued, InvoiceStatus.SENT
        return True

    def void(self) -> bool:
        """The invoice leaves the client's lists and can no longer be paid; returns False when it already was void.
        Raises InvalidTransition once money was received (partly paid or paid)."""
        if self.status == InvoiceStatus.VOID:
            return False
        if self.status in (InvoiceStatus.PARTIALLY_PAID, InvoiceStatus.PAID):
            raise InvalidTransition(f"invoice {self.number} is {self.status.value.replace('_', ' ')} "
                                    f"({self.amount_paid} received): it cannot be voided")
        self.status = InvoiceStatus.VOID
        return True

    def apply_payment(self, share: Money) -> None:
        """Credits a confirmed payment: the amount paid grows, and the invoice is paid or partly paid. Raises
        InvalidTransition for an invoice not sent (or void), and for a share past the total: the ledger checks both
        for every invoice of a payment before it applies any, so a payment of several is all or nothing."""
        if self.status not in CREDITABLE:
            raise InvalidTransition(f"invoice {self.number} is {self.status.value}")
        if self.amount_paid + share > self.total:
            raise InvalidTransition(f"would take the amount paid past the total of invoice {self.number} "
                                    f"({self.total})")
        self.amount_paid = self.amount_paid + share
        self.status = InvoiceStatus.PAID if self.amount_paid >= self.total else InvoiceStatus.PARTIALLY_PAID


@attrs.define(kw_only=True)
class Quote:
    id: str
    company_id: str
    number: str
    status: QuoteStatus
    currency: str = attrs.field(converter=_currency)
    issued_date: dt.date | None
    valid_until: dt.date | None
    lines: tuple[Line, ...] = ()
    ref: str | None = None

    def __attrs_post_init__(self) -> None:
        for line in self.lines:
            if line.unit_price.currency != self.currency:
                raise InvalidInput(f"quote {self.number}: amounts must all be in {self.currency}")

    @property
    def total(self) -> Money:
        return _lines_total(self.lines, self.currency)

    def awaiting_review(self, today: dt.date) -> bool:
        return self.status == QuoteStatus.SENT and (self.valid_until is None or self.valid_until >= today)

    def send(self, today: dt.date) -> bool:
        """A draft becomes sent, issued today unless it has an issue date; returns True. A sent quote stays as it is
        (its notice may go again); returns False. Raises InvalidTransition for an accepted, declined or expired
        quote, and for one whose validity ended (or ends before it is issued)."""
        if self.status not in (QuoteStatus.DRAFT, QuoteStatus.SENT):
            raise InvalidTransition(f"quote {self.number} is {self.status.value}: it cannot be sent")
        if self.valid_until is not None and self.valid_until < today:
            raise InvalidTransition(f"quote {self.number} was valid until {day_text(self.valid_until)}: it cannot "
                                    "be sent now (issue a new quote, or extend its validity first)")
        if self.status != QuoteStatus.DRAFT:
            return False
        issued = self.issued_date or today
        if self.valid_until is not None and self.valid_until < issued:
            raise InvalidTransition(f"quote {self.number} is valid until {day_text(self.valid_until)}, before its "
                                    f"issue date {day_text(issued)}: it cannot be sent")
        self.issued_date, self.status = issued, QuoteStatus.SENT
        return True


@attrs.define(kw_only=True)
class Project:
    id: str
    company_id: str
    name: str
    status: ProjectStatus
    ref: str | None = None


@attrs.define(kw_only=True)
class Job:
    id: str
    company_id: str
    title: str
    status: JobStatus
    scheduled_start: dt.date | None = None
    scheduled_end: dt.date | None = None
    project_id: str | None = None
    ref: str | None = None

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_JOB_STATUSES


@attrs.define(kw_only=True)
class Task:
    id: str
    company_id: str
    title: str
    status: TaskStatus
    job_id: str | None = None
    due_date: dt.date | None = None
    ref: str | None = None


@attrs.define(kw_only=True)
class ClientRequest:
    """A request a contact sent to the business (named so to keep it apart from HTTP requests)."""

    id: str
    company_id: str
    title: str
    details: str
    status: RequestStatus
    created_at: dt.datetime
    submitted_by: str | None = None  # contact id
    ref: str | None = None


@attrs.define(kw_only=True)
class Product:
    id: str
    name: str
    unit_price: Money
    description: str = ""
    ref: str | None = None
