"""`portal db upgrade`, `portal seed` and `portal prune`: the database's schema, its contents from a seed file, and
its pruning."""

from __future__ import annotations

import argparse
import datetime as dt

from entrypoints.bootstrap import upgrade_database
from entrypoints.cli.common import ProgressBar, read_json, services
from entrypoints.settings import Settings
from portal_core import retention
from portal_core.seed import load_seed


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    upgrade_database(settings)
    print("database is up to date")
    return 0


def cmd_seed(args: argparse.Namespace, settings: Settings) -> int:
    document = read_json(args.file)
    s = services(settings)
    with ProgressBar("loading companies") as bar:
        report = load_seed(s.uow(), randomness=s.randomness, clock=s.clock, storage=s.files, document=document,
                           progress=bar)
    print(f"seeded {report.companies} companies, {report.contacts} contacts, {report.records} records")
    return 0


def cmd_prune(args: argparse.Namespace, settings: Settings) -> int:
    s = services(settings)
    with ProgressBar("pruning") as bar:
        removed = retention.prune(s.uow(), clock=s.clock, sign_in_policy=s.sign_in_policy,
                                  retention=retention.RetentionPolicy(
                                      audit=dt.timedelta(days=settings.audit_retention_days)), progress=bar)
    for kind, count in removed:
        print(f"{kind}: {count} removed")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    db = sub.add_parser("db", help="database schema").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="create or upgrade the schema").set_defaults(run=cmd_db_upgrade)

    seed = sub.add_parser("seed", help="load a seed JSON file (see docs/seed-format.md)")
    seed.add_argument("file")
    seed.set_defaults(run=cmd_seed)


def register_prune(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    prune = sub.add_parser("prune", help="delete expired codes, ended sessions, old throttle rows, payment events "
                                         "and audit entries (safe while serving; run it daily)")
    prune.set_defaults(run=cmd_prune)
