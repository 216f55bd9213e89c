"""`portal company list`, `portal access enable|disable` and `portal audit`: client companies, their portal access,
and what happened in it."""

from __future__ import annotations

import argparse

from entrypoints.cli.common import add_json_flag, print_json, services
from entrypoints.settings import Settings
from portal_core import companies


def cmd_company_list(args: argparse.Namespace, settings: Settings) -> int:
    found = companies.list_companies(services(settings).uow())
    if args.json:
        print_json({"companies": [{"id": c.id, "ref": c.ref, "name": c.name, "portal_enabled": c.portal_enabled}
                                  for c in found]})
        return 0
    for company in found:
        print(f"{company.ref or company.id}\t{company.name}\tportal {'on' if company.portal_enabled else 'off'}")
    return 0


def cmd_access(args: argparse.Namespace, settings: Settings) -> int:
    company = companies.set_portal_access(services(settings).uow(), args.company, enabled=args.action == "enable")
    print(f"portal access for {company.name} is {'on' if company.portal_enabled else 'off'}")
    return 0


def cmd_audit(args: argparse.Namespace, settings: Settings) -> int:
    lines = companies.audit_trail(services(settings).uow(), args.company, limit=args.limit)
    if args.json:
        print_json({"audit": [{"at": line.entry.at, "action": line.entry.action, "who": line.who,
                               "ip": line.entry.ip, "detail": line.entry.detail} for line in lines]})
        return 0
    for line in lines:
        entry, who = line.entry, line.who
        print(f"{entry.at.isoformat(timespec='seconds')}\t{entry.action}\t{who}\t{entry.ip or '-'}\t{entry.detail}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    company = sub.add_parser("company", help="client companies").add_subparsers(dest="company_command", required=True)
    listing = company.add_parser("list", help="list companies: ref (or id), name, portal on or off")
    add_json_flag(listing)
    listing.set_defaults(run=cmd_company_list)

    acc = sub.add_parser("access", help="turn a company's portal access on or off")
    acc.add_argument("action", choices=["enable", "disable"])
    acc.add_argument("company", metavar="COMPANY")
    acc.set_defaults(run=cmd_access)


def register_audit(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    audit = sub.add_parser("audit", help="show a company's audit log, newest first")
    audit.add_argument("company", metavar="COMPANY")
    audit.add_argument("--limit", type=int, default=200)
    add_json_flag(audit)
    audit.set_defaults(run=cmd_audit)
