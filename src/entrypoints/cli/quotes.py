"""`portal quote send`: staff send a quote to its company's contacts."""

from __future__ import annotations

import argparse

from entrypoints.cli.common import services
from entrypoints.cli.sending import print_send
from entrypoints.settings import Settings
from portal_core import sending


def cmd_quote_send(args: argparse.Namespace, settings: Settings) -> int:
    s = services(settings)
    return print_send(sending.send_quote(s.uow(), sender=s.email_sender, templates=s.templates, clock=s.clock,
                                         randomness=s.randomness, base_url=settings.base_url, ref=args.ref,
                                         documents=s.documents))


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    quote = sub.add_parser("quote", help="send quotes")
    quote_sub = quote.add_subparsers(dest="quote_command", required=True)
    quote_send = quote_sub.add_parser(
        "send", help="send a quote to its company's contacts (a draft becomes sent; a sent one is re-sent)")
    quote_send.add_argument("ref", metavar="REF", help="the quote's seed ref or id")
    quote_send.set_defaults(run=cmd_quote_send)
