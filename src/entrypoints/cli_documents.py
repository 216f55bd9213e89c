"""`portal invoice ...` and `portal quote ...`: staff send documents to clients, remind them, and void invoices."""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Sequence

from entrypoints.bootstrap import Services, build_services
from entrypoints.settings import Settings
from portal_core import sending
from portal_core.model.documents import Invoice

# Exit status when the document changed but some contact's notice was refused by the mail relay: the work is done,
# and the notice stays in the outbox for the next dispatcher, yet a script should notice. Bad input and refused
# transitions exit 2 (cli.main), a database outage 1.
DELIVERY_FAILED = 1


def _day(value: dt.date | None, none: str = "none") -> str:
    return f"{value.day} {value:%b %Y}" if value else none


def _when(value: dt.datetime) -> str:
    return value.strftime("%d %b %Y %H:%M UTC")


def _delivery_lines(deliveries: Sequence[sending.Delivery], what: str) -> list[str]:
    return [f"  {what} to {d.contact_name} <{d.email}>: "
            + ("delivered" if d.delivered else "being sent by another mail dispatcher" if d.in_flight
               else f"NOT delivered ({d.problem}); it stays queued and is retried")
            for d in deliveries]


def _no_link_line(company_name: str, link: str | None) -> list[str]:
    if link is not None:
        return []
    return [f"note: portal access for {company_name} is off, so the notice carried no portal link "
            "(it asks the client to contact you)"]


def _print_send(outcome: sending.SendOutcome) -> int:
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
              f"{_when(outcome.held_back_until)}")
        return 0
    lines = _delivery_lines(outcome.deliveries, "notice" if outcome.changed else "reminder")
    print("\n".join(lines) if lines else f"note: {outcome.company_name} has no contacts; nobody was notified")
    for line in _no_link_line(outcome.company_name, outcome.portal_link):
        print(line)
    return DELIVERY_FAILED if outcome.failures else 0


def _services(settings: Settings) -> Services:
    return build_services(settings)


def cmd_invoice_send(args: argparse.Namespace, settings: Settings) -> int:
    s = _services(settings)
    return _print_send(sending.send_invoice(s.uow(), s.email_sender, s.templates, s.clock, s.randomness,
                                            settings.base_url, args.ref, documents=s.documents))


def cmd_quote_send(args: argparse.Namespace, settings: Settings) -> int:
    s = _services(settings)
    return _print_send(sending.send_quote(s.uow(), s.email_sender, s.templates, s.clock, s.randomness,
                                          settings.base_url, args.ref, documents=s.documents))


def cmd_invoice_remind(args: argparse.Namespace, settings: Settings) -> int:
    s = _services(settings)
    report = sending.remind_overdue(s.uow(), s.email_sender, s.templates, s.clock, s.randomness, settings.base_url,
                                    company_key=args.company)
    reminded = held = 0
    for company in report.companies:
        if not company.invoices and not company.held_back:
            continue
        if company.invoices:
            reminded += 1
            numbers = ", ".join(f"{i.number} ({i.outstanding} outstanding)" for i in company.invoices)
            print(f"{company.company_name}: reminded of {numbers}")
            lines = _delivery_lines(company.deliveries, "reminder")
            print("\n".join(lines) if lines else f"note: {company.company_name} has no contacts; nobody was reminded")
            for line in _no_link_line(company.company_name, company.portal_link):
                print(line)
        for invoice, until in company.held_back:
            held += 1
            print(f"{company.company_name}: {invoice.number} held back (notified less than 24 hours ago; next "
                  f"reminder after {_when(until)})")
    if not reminded:
        print("nobody was reminded" if held else "no overdue invoices to remind anyone of")
    return DELIVERY_FAILED if report.failures else 0


def cmd_invoice_void(args: argparse.Namespace, settings: Settings) -> int:
    s = _services(settings)
    outcome = sending.void_invoice(s.uow(), s.clock, s.randomness, args.ref)
    number = outcome.invoice.number
    if not outcome.changed:
        print(f"invoice {number} ({outcome.company_name}) was already void; unchanged")
        return 0
    print(f"invoice {number} ({outcome.company_name}) is now void: clients no longer see it and it cannot be paid")
    if outcome.open_attempts:
        print(f"note: {outcome.open_attempts} Pay Now attempt(s) for it are still open at the provider; a payment "
              "that completes is recorded for review, not applied")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    invoice = sub.add_parser("invoice", help="send, remind and void invoices")
    invoice_sub = invoice.add_subparsers(dest="invoice_command", required=True)
    send = invoice_sub.add_parser(
        "send", help="send an invoice to its company's contacts (a draft becomes sent; a sent one is re-sent); "
                     "exit 1 when some notice could not be delivered")
    send.add_argument("ref", metavar="REF", help="the invoice's seed ref or id")
    send.set_defaults(run=cmd_invoice_send)
    remind = invoice_sub.add_parser(
        "remind", help="email each contact the company's overdue invoices (at most once a day per invoice)")
    remind.add_argument("--overdue", action="store_true", required=True,
                        help="remind of overdue invoices (the only kind of reminder)")
    remind.add_argument("company", metavar="COMPANY", nargs="?", help="only this company (ref or name)")
    remind.set_defaults(run=cmd_invoice_remind)
    void = invoice_sub.add_parser("void", help="void an invoice: clients stop seeing it and cannot pay it")
    void.add_argument("ref", metavar="REF", help="the invoice's seed ref or id")
    void.set_defaults(run=cmd_invoice_void)

    quote = sub.add_parser("quote", help="send quotes")
    quote_sub = quote.add_subparsers(dest="quote_command", required=True)
    quote_send = quote_sub.add_parser(
        "send", help="send a quote to its company's contacts (a draft becomes sent; a sent one is re-sent)")
    quote_send.add_argument("ref", metavar="REF", help="the quote's seed ref or id")
    quote_send.set_defaults(run=cmd_quote_send)
