"""`portal link COMPANY` and `portal link rotate COMPANY`: a company's portal link, and a new one in its place."""

from __future__ import annotations

import argparse
import sys

from entrypoints.cli.common import UsageError, services
from entrypoints.settings import Settings
from portal_core import companies


def cmd_link(args: argparse.Namespace, settings: Settings) -> int:
    s = services(settings)
    words = list(args.words)
    if len(words) == 2 and words[0] == "rotate":
        company = companies.rotate_link(s.uow(), randomness=s.randomness, company_key=words[1])
        print(companies.portal_link(settings.base_url, company))
        print("the previous link no longer works", file=sys.stderr)
        return 0
    if len(words) != 1:
        raise UsageError("usage: portal link COMPANY | portal link rotate COMPANY")
    company = companies.get_company(s.uow(), words[0])
    print(companies.portal_link(settings.base_url, company))
    if not company.portal_enabled:
        print(f"note: portal access for {company.name} is off; the link answers 404 until it is enabled",
              file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    link = sub.add_parser("link", help="print a company's portal link; `link rotate COMPANY` issues a new one")
    link.add_argument("words", nargs="+", metavar="[rotate] COMPANY")
    link.set_defaults(run=cmd_link)
