"""`portal invoice send|remind|void`: staff send invoices to clients, remind them of overdue ones, and void them."""

from __future__ import annotations

import argparse

from entrypoints.cli.common import ProgressBar, services
from entrypoints.cli.sending import DELIVERY_FAILED, delivery_lines, no_link_line, print_send, when
from entrypoints.settings import Settings
from portal_core import invoices, sending


def cmd_invoice_send(args: argparse.Namespace, settings: Settings) -> int:
    s = services(settings)
    return print_send(sending.send_invoice(s.uow(), sender=s.email_sender, templates=s.templates, clock=s.clock,
                                           randomness=s.randomness, base_url=settings.base_url, ref=args.ref,
                                           documents=s.documents))


def cmd_invoice_remind(args: argparse.Namespace, settings: Settings) -> int:
    s = services(settings)
    with ProgressBar("sending reminders") as bar:
        report = sending.remind_overdue(s.uow(), sender=s.email_sender, templates=s.templates, clock=s.clock,
                                        randomness=s.randomness, base_url=settings.base_url,
                                        company_key=args.company, progress=bar)
    reminded = held = 0
    for company in report.companies:
        if not company.invoices and not company.held_back:
            continue
        if company.invoices:
            reminded += 1
            numbers = ", ".join(f"{i.number} ({i.outstanding} outstanding)" for i in company.invoices)
            print(f"{company.company_name}: reminded of {numbers}")
            lines = delivery_lines(company.deliveries, "reminder")
            print("\n".join(lines) if lines else f"note: {company.company_name} has no contacts; nobody was reminded")
            for line in no_link_line(company.company_name, company.portal_link):
                print(line)
        for invoice, until in company.held_back:
            held += 1
            print(f"{company.company_name}: {invoice.number} held back (notified less than 24 hours ago; next "
                  f"reminder after {when(until)})")
    if not reminded:
        print("nobody was reminded" if held else "no overdue invoices to remind anyone of")
    return DELIVERY_FAILED if report.failures else 0


def cmd_invoice_void(args: argparse.Namespace, settings: Settings) -> int:
    s = services(settings)
    outcome = invoices.void_invoice(s.uow(), clock=s.clock, randomness=s.randomness, ref=args.ref)
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

