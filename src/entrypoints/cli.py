"""The `portal` command: database, seed, demo, serving, and the staff actions on companies and contacts."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from entrypoints import cli_api, cli_documents, cli_files, cli_mail, cli_payments, cli_webhooks
from entrypoints.bootstrap import Services, build_services, upgrade_database
from entrypoints.settings import Settings
from portal_core import access, retention
from portal_core.errors import DatabaseUnavailable, PortalError
from portal_core.seed import load_seed


class UsageError(Exception):
    """Bad command-line usage; reported in one line with exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not argparse's usage block
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def _services(settings: Settings) -> Services:
    return build_services(settings)


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    upgrade_database(settings)
    print("database is up to date")
    return 0


def read_json(path: str) -> object:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None


def cmd_seed(args: argparse.Namespace, settings: Settings) -> int:
    document = read_json(args.file)
    services = _services(settings)
    report = load_seed(services.uow(), randomness=services.randomness, clock=services.clock, storage=services.files,
                       document=document)
    print(f"seeded {report.companies} companies, {report.contacts} contacts, {report.records} records")
    return 0


def cmd_company_list(args: argparse.Namespace, settings: Settings) -> int:
    services = _services(settings)
    for company in access.list_companies(services.uow()):
        print(f"{company.ref or company.id}\t{company.name}\tportal {'on' if company.portal_enabled else 'off'}")
    return 0


def cmd_access(args: argparse.Namespace, settings: Settings) -> int:
    services = _services(settings)
    company = access.set_portal_access(services.uow(), args.company, enabled=args.action == "enable")
    print(f"portal access for {company.name} is {'on' if company.portal_enabled else 'off'}")
    return 0


def cmd_link(args: argparse.Namespace, settings: Settings) -> int:
    services = _services(settings)
    words = list(args.words)
    if len(words) == 2 and words[0] == "rotate":
        company = access.rotate_link(services.uow(), services.randomness, words[1])
        print(access.portal_link(settings.base_url, company))
        print("the previous link no longer works", file=sys.stderr)
        return 0
    if len(words) != 1:
        raise UsageError("usage: portal link COMPANY | portal link rotate COMPANY")
    company = access.get_company(services.uow(), words[0])
    print(access.portal_link(settings.base_url, company))
    if not company.portal_enabled:
        print(f"note: portal access for {company.name} is off; the link answers 404 until it is enabled",
              file=sys.stderr)
    return 0


def cmd_contact(args: argparse.Namespace, settings: Settings) -> int:
    services = _services(settings)
    if args.action == "add":
        contact = access.add_contact(services.uow(), services.randomness, args.company, args.name, args.email)
        print(f"added {contact.name} <{contact.email}>")
    elif args.action == "language":
        contact = access.set_contact_language(services.uow(), company_key=args.company, email=args.email,
                                              language=args.language)
        print(f"{contact.name} reads the portal and its mail in {contact.language}")
    else:
        contact = access.remove_contact(services.uow(), args.company, args.email)
        print(f"removed {contact.name}; their sessions end on their next request")
    return 0


def cmd_audit(args: argparse.Namespace, settings: Settings) -> int:
    services = _services(settings)
    for line in access.audit_trail(services.uow(), args.company, limit=args.limit):
        entry, who = line.entry, line.who
        print(f"{entry.at.isoformat(timespec='seconds')}\t{entry.action}\t{who}\t{entry.ip or '-'}\t{entry.detail}")
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from entrypoints.bootstrap import check_email_settings, check_file_storage
    from entrypoints.server import ensure_port_free, serve

    settings.require_secret()
    if not args.dev and not os.environ.get("PORTAL_EMAIL_URL"):
        raise UsageError("PORTAL_EMAIL_URL is not set: give the mail relay (smtp://host:port), or console:// to "
                         "print mail, codes included, to this console")
    check_email_settings(settings)
    check_file_storage(settings)
    ensure_port_free(args.host, args.port)
    if settings.email_url.startswith("console://"):
        print("warning: PORTAL_EMAIL_URL is console://: mail, sign-in codes included, is printed here and sent "
              "to nobody", file=sys.stderr)
    serve(settings, host=args.host, port=args.port, workers=args.workers, dev=args.dev)
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from entrypoints.demo import run_demo
    from entrypoints.server import ensure_port_free

    ensure_port_free("127.0.0.1", args.port)
    run_demo(port=args.port)
    return 0


def cmd_prune(args: argparse.Namespace, settings: Settings) -> int:
    services = _services(settings)
    removed = retention.prune(services.uow(), clock=services.clock, sign_in_policy=services.sign_in_policy,
                              retention=retention.RetentionPolicy(
                                  audit=dt.timedelta(days=settings.audit_retention_days)))
    for kind, count in removed:
        print(f"{kind}: {count} removed")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="portal", description="The client portal: serve it, seed it, and manage access.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    db = sub.add_parser("db", help="database schema").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="create or upgrade the schema").set_defaults(run=cmd_db_upgrade)

    seed = sub.add_parser("seed", help="load a seed JSON file (see docs/seed-format.md)")
    seed.add_argument("file")
    seed.set_defaults(run=cmd_seed)

    demo = sub.add_parser("demo", help="create a demo database and serve it on 127.0.0.1")
    demo.add_argument("--port", type=int, default=5000)
    demo.set_defaults(run=cmd_demo)

    serve = sub.add_parser("serve", help="serve the portal (gunicorn; --dev for Flask's development server)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=5000)
    serve.add_argument("--workers", type=int, default=2)
    serve.add_argument("--dev", action="store_true")
    serve.set_defaults(run=cmd_serve)

    prune = sub.add_parser("prune", help="delete expired codes, ended sessions, old throttle rows, payment events "
                                         "and audit entries (safe while serving; run it daily)")
    prune.set_defaults(run=cmd_prune)

    company = sub.add_parser("company", help="client companies").add_subparsers(dest="company_command", required=True)
    company.add_parser("list", help="list companies").set_defaults(run=cmd_company_list)

    acc = sub.add_parser("access", help="turn a company's portal access on or off")
    acc.add_argument("action", choices=["enable", "disable"])
    acc.add_argument("company", metavar="COMPANY")
    acc.set_defaults(run=cmd_access)

    link = sub.add_parser("link", help="print a company's portal link; `link rotate COMPANY` issues a new one")
    link.add_argument("words", nargs="+", metavar="[rotate] COMPANY")
    link.set_defaults(run=cmd_link)

    contact = sub.add_parser("contact", help="add or remove a company's contacts, or set their language")
    contact_sub = contact.add_subparsers(dest="action", required=True)
    add = contact_sub.add_parser("add")
    add.add_argument("company", metavar="COMPANY")
    add.add_argument("name", metavar="NAME")
    add.add_argument("email", metavar="EMAIL")
    add.set_defaults(run=cmd_contact)
    remove = contact_sub.add_parser("remove")
    remove.add_argument("company", metavar="COMPANY")
    remove.add_argument("email", metavar="EMAIL")
    remove.set_defaults(run=cmd_contact)
    language = contact_sub.add_parser("language", help="the language the contact reads the portal and mail in")
    language.add_argument("company", metavar="COMPANY")
    language.add_argument("email", metavar="EMAIL")
    language.add_argument("language", metavar="LANG", help="en or ar")
    language.set_defaults(run=cmd_contact)

    audit = sub.add_parser("audit", help="show a company's audit log, newest first")
    audit.add_argument("company", metavar="COMPANY")
    audit.add_argument("--limit", type=int, default=200)
    audit.set_defaults(run=cmd_audit)

    cli_files.register(sub)
    cli_payments.register(sub)
    cli_documents.register(sub)
    cli_mail.register(sub)
    cli_api.register(sub)
    cli_webhooks.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        settings = Settings.from_env()
        return int(args.run(args, settings))
    except (UsageError, PortalError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1 if isinstance(exc, DatabaseUnavailable) else 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
