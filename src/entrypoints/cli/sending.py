"""What `portal invoice send` and `portal quote send` print: the document's new state and each contact's notice."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from portal_core import sending
from portal_core.model.documents import Invoice

# Exit status when the document changed but some contact's notice was refused by the mail relay: the work is done,
# and the notice stays in the outbox for the next dispatcher, yet a script should notice. Bad input and refused
# transitions exit 2 (entrypoints.cli.main), a database outage 1.
DELIVERY_FAILED = 1


def _day(value: dt.date | None, none: str = "none") -> str:
    return f"{value.day} {value:%b %Y}" if value else none


def when(value: dt.datetime) -> str:
    return value.strftime("%d %b %Y %H:%M UTC")


def delivery_lines(deliveries: Sequence[sending.Delivery], what: str) -> list[str]:
    return [f"  {what} to {d.contact_name} <{d.email}>: "
            + ("delivered" if d.delivered else "being sent by another mail dispatcher" if d.in_flight
               else f"NOT delivered ({d.problem}); it stays queued and is retried")
            for d in deliveries]


def no_link_line(company_name: str, link: str | None) -> list[str]:
    if link is not None:
        return []
    return [f"note: portal access for {company_name} is off, so the notice carried no portal link "
            "(it asks the client to contact you)"]


def print_send(outcome: sending.SendOutcome) -> int:
    document = outcome.document
    kind = outcome.kind.value
    if isinstance(document, Invoice):
        dates = (f"issued {_day(document.issued_date)}, due {_day(document.due_date, 'on receipt')}, "
                 f"outstanding {document.outstanding}")
    else:
        dates = (f"issued {_day(document.issued_date)}, valid until {_day(document.valid_until, 'no end date')}, "
                 f"total {document.total}")
    if outcome.changed:
        print(f"{kind} {document.number} ({outcome.company_name}) is now sent: {dates}; clients see it in the portal")
    else:
        print(f"{kind} {document.number} ({outcome.company_name}) was already {document.status.value}; unchanged "
              f"({dates})")
    if outcome.held_back_until is not None:
        print(f"no notice sent: its contacts were notified less than 24 hours ago; the next notice can go out after "
              f"{when(outcome.held_back_until)}")
        return 0
    lines = delivery_lines(outcome.deliveries, "notice" if outcome.changed else "reminder")
    print("\n".join(lines) if lines else f"note: {outcome.company_name} has no contacts; nobody was notified")
    for line in no_link_line(outcome.company_name, outcome.portal_link):
        print(line)
    return DELIVERY_FAILED if outcome.failures else 0
