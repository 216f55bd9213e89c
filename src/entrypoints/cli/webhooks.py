"""`portal webhook ...`: the CRM's receivers of events (docs/api.md, "Webhooks"). A new webhook's signing secret is
printed once, alone on its line; the portal derives it again for each delivery and never stores it."""

from __future__ import annotations

import argparse

from entrypoints.cli.common import services
from entrypoints.settings import Settings
from portal_core import webhooks


def cmd_webhook_add(args: argparse.Namespace, settings: Settings) -> int:
    s = services(settings)
    _webhook, secret = webhooks.add_webhook(
        s.uow(), transport=s.webhook_transport, secrets=s.webhook_secrets,
        randomness=s.randomness, clock=s.clock, url=args.url, events=args.events)
    print(secret)
    return 0


def cmd_webhook_list(args: argparse.Namespace, settings: Settings) -> int:
    for webhook in webhooks.list_webhooks(services(settings).uow()):
        print(f"{webhook.id}\t{webhook.url}\t{','.join(e.value for e in webhook.events)}")
    return 0


def cmd_webhook_remove(args: argparse.Namespace, settings: Settings) -> int:
    webhook = webhooks.remove_webhook(services(settings).uow(), args.id)
    print(f"webhook {webhook.id} is removed: it is told of nothing more")
    return 0


def cmd_webhook_deliveries(args: argparse.Namespace, settings: Settings) -> int:
    for d in webhooks.recent_deliveries(services(settings).uow(), args.id):
        error = f"\t{d.last_error}" if d.last_error else ""
        print(f"{d.created_at.isoformat(timespec='seconds')}\t{d.event_type.value}\t{d.event_id}\t{d.status.value}"
              f"\t{d.attempts} tries{error}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    hooks = sub.add_parser("webhook", help="URLs the portal tells of events").add_subparsers(
        dest="webhook_command", required=True)
    add = hooks.add_parser("add", help="a new webhook; prints its signing secret, once")
    add.add_argument("url", metavar="URL")
    add.add_argument("--events", required=True, help=f"comma-separated, of: {webhooks.EVENT_NAMES}")
    add.set_defaults(run=cmd_webhook_add)
    hooks.add_parser("list", help="one line per webhook: ID, URL, events (never the secret)").set_defaults(
        run=cmd_webhook_list)
    remove = hooks.add_parser("remove", help="the webhook is told of nothing more")
    remove.add_argument("id", metavar="ID")
    remove.set_defaults(run=cmd_webhook_remove)
    deliveries = hooks.add_parser("deliveries", help="a webhook's latest deliveries and their state")
    deliveries.add_argument("id", metavar="ID")
    deliveries.set_defaults(run=cmd_webhook_deliveries)
