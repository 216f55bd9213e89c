"""`portal contact add|remove|language`: a company's contacts, who sign in with a code sent to their email."""

from __future__ import annotations

import argparse

from entrypoints.cli.common import services
from entrypoints.settings import Settings
from portal_core import companies


def cmd_contact(args: argparse.Namespace, settings: Settings) -> int:
    s = services(settings)
    if args.action == "add":
        contact = companies.add_contact(s.uow(), randomness=s.randomness, company_key=args.company, name=args.name,
                                        email=args.email)
        print(f"added {contact.name} <{contact.email}>")
    elif args.action == "language":
        contact = companies.set_contact_language(s.uow(), company_key=args.company, email=args.email,
                                              language=args.language)
        print(f"{contact.name} reads the portal and its mail in {contact.language}")
    else:
        contact = companies.remove_contact(s.uow(), args.company, args.email)
        print(f"removed {contact.name}; their sessions end on their next request")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
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
