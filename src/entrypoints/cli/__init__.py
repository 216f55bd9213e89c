"""The `portal` command: one module per noun (db and seed, companies and access, links, contacts, files, requests,
invoices, quotes, payments, mail, API keys, webhooks, serve and demo), each registering its subcommands; they build
their services one way (common.services). Bad input ends with one line on stderr and exit status 2."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

import attrs

from entrypoints.cli import (
    api_keys,
    companies,
    contacts,
    db,
    files,
    invoices,
    links,
    mail,
    payments,
    quotes,
    requests,
    serve,
    webhooks,
)
from entrypoints.cli.common import UsageError
from entrypoints.settings import Settings
from portal_core.errors import DatabaseUnavailable, PortalError

__all__ = ["UsageError", "build_parser", "main"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not argparse's usage block
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="portal", description="The client portal: serve it, seed it, and manage access.")
    parser.add_argument("--app", metavar="MODULE:CALLABLE",
                        help="build the portal's services with an embedder's callable (also PORTAL_APP), so every "
                        "command works over the embedder's own database (docs/embedding.md)")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    db.register(sub)
    serve.register(sub)
    db.register_prune(sub)
    companies.register(sub)
    links.register(sub)
    contacts.register(sub)
    companies.register_audit(sub)
    files.register(sub)
    requests.register(sub)
    payments.register(sub)
    invoices.register(sub)
    quotes.register(sub)
    mail.register(sub)
    api_keys.register(sub)
    webhooks.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        settings = Settings.from_env()
        if args.app:
            settings = attrs.evolve(settings, app=args.app)
        return int(args.run(args, settings))
    except (UsageError, PortalError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1 if isinstance(exc, DatabaseUnavailable) else 2
    except KeyboardInterrupt:
        return 130
