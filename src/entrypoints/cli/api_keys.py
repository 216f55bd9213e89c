"""`portal api-key ...`: the keys a CRM calls the API with (docs/api.md). A new key is printed once, alone on its
line; the portal keeps only a keyed hash of it."""

from __future__ import annotations

import argparse

from entrypoints.cli.common import services
from entrypoints.settings import Settings
from portal_core import api_keys


def _when(moment: object) -> str:
    return moment.isoformat(timespec="seconds") if moment is not None else "never"  # type: ignore[attr-defined]


def cmd_api_key_create(args: argparse.Namespace, settings: Settings) -> int:
    s = services(settings)
    print(api_keys.create_key(s.uow(), secrets=s.api_key_secrets, randomness=s.randomness,
                              clock=s.clock, name=args.name))
    return 0


def cmd_api_key_list(args: argparse.Namespace, settings: Settings) -> int:
    for key in api_keys.list_keys(services(settings).uow()):
        state = f"\trevoked {_when(key.revoked_at)}" if key.revoked_at else ""
        print(f"{key.name}\tcreated {_when(key.created_at)}\tlast used {_when(key.last_used_at)}{state}")
    return 0


def cmd_api_key_revoke(args: argparse.Namespace, settings: Settings) -> int:
    s = services(settings)
    key = api_keys.revoke_key(s.uow(), clock=s.clock, name=args.name)
    print(f"API key {key.name} is revoked: calls with it answer 401 from now on")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    keys = sub.add_parser("api-key", help="keys for the business-side API").add_subparsers(
        dest="api_key_command", required=True)
    create = keys.add_parser("create", help="a new key, printed once")
    create.add_argument("name", metavar="NAME")
    create.set_defaults(run=cmd_api_key_create)
    keys.add_parser("list", help="one line per key: name, created, last used (never the key)").set_defaults(
        run=cmd_api_key_list)
    revoke = keys.add_parser("revoke", help="the key stops working at once")
    revoke.add_argument("name", metavar="NAME")
    revoke.set_defaults(run=cmd_api_key_revoke)
