"""`portal payments ...`: connect and disconnect Stripe or Telr, show what is connected, reconcile pending orders."""

from __future__ import annotations

import argparse
import sys

from entrypoints.cli.common import add_json_flag, print_json, services
from entrypoints.settings import Settings
from portal_core import ledger, outbox, payment_providers
from portal_core.model.payment import Provider


def cmd_connect(args: argparse.Namespace, settings: Settings) -> int:
    s = services(settings)
    provider = Provider(args.provider)
    if provider == Provider.STRIPE:
        credentials = {"secret_key": args.secret_key, "webhook_secret": args.webhook_secret}
    else:
        credentials = {"store_id": args.store_id, "auth_key": args.auth_key,
                       "test_mode": "1" if args.test_mode else "0"}
    status = payment_providers.connect_provider(s.uow(), vault=s.credential_vault, clock=s.clock,
                                                randomness=s.randomness, provider=provider, credentials=credentials,
                                                check=s.credential_checks[provider])
    print(status.describe())
    if provider == Provider.STRIPE:
        print(f"webhook endpoint for Stripe: {settings.base_url}/webhooks/stripe (events: checkout.session.*)",
              file=sys.stderr)
    return 0


def cmd_disconnect(args: argparse.Namespace, settings: Settings) -> int:
    s = services(settings)
    provider = payment_providers.parse_provider(args.provider)
    removed = payment_providers.disconnect_provider(s.uow(), clock=s.clock, randomness=s.randomness, provider=provider)
    print(f"{provider.value}: disconnected" if removed else f"{provider.value}: was not connected")
    return 0


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    s = services(settings)
    found = {p.provider: p for p in payment_providers.provider_status(s.uow(), vault=s.credential_vault)}
    if args.json:
        print_json({"providers": [
            {"provider": provider.value, "connected": provider in found,
             "connected_at": found[provider].connected_at if provider in found else None,
             "credentials": dict(found[provider].shown) if provider in found else {}} for provider in Provider]})
        return 0
    for provider in Provider:
        print(found[provider].describe() if provider in found else f"{provider.value}: not connected")
    return 0


def cmd_reconcile(args: argparse.Namespace, settings: Settings) -> int:
    s = services(settings)
    report = ledger.reconcile_pending(s.uow(), gateways=s.payment_gateways, vault=s.credential_vault, clock=s.clock,
                                      randomness=s.randomness, templates=s.templates)
    if report.receipts:  # queued with their payments; delivered now when the relay answers, else later
        for attempt in outbox.dispatch(s.uow(), sender=s.email_sender, clock=s.clock,
                                       randomness=s.randomness, ids=report.receipts,
                                       limit=len(report.receipts)):
            if not attempt.delivered:
                print(f"warning: a receipt stays queued: {attempt.problem}", file=sys.stderr)
    for failure in report.failed_checks:
        print(f"could not check payment {failure}", file=sys.stderr)
    print(f"checked {report.checked} pending payments, {report.settled} settled, "
          f"{len(report.failed_checks)} could not be checked")
    return 0 if not report.failed_checks else 1


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    group = sub.add_parser("payments", help="online payment providers (Stripe, Telr)")
    commands = group.add_subparsers(dest="payments_command", required=True)

    connect = commands.add_parser("connect", help="connect a provider (credentials are stored encrypted)")
    providers = connect.add_subparsers(dest="provider", required=True)
    stripe = providers.add_parser("stripe", help="Stripe Checkout")
    stripe.add_argument("--secret-key", required=True, metavar="KEY", help="sk_live_... or sk_test_...")
    stripe.add_argument("--webhook-secret", required=True, metavar="SECRET", help="whsec_... (the signing secret)")
    stripe.set_defaults(run=cmd_connect)
    telr = providers.add_parser("telr", help="Telr hosted payment page")
    telr.add_argument("--store-id", required=True, metavar="ID")
    telr.add_argument("--auth-key", required=True, metavar="KEY")
    telr.add_argument("--test-mode", action="store_true", help="create test orders (ivp_test=1)")
    telr.set_defaults(run=cmd_connect)

    disconnect = commands.add_parser("disconnect", help="forget a provider's credentials; its Pay Now disappears")
    disconnect.add_argument("provider", metavar="PROVIDER", help="stripe or telr")
    disconnect.set_defaults(run=cmd_disconnect)

    status = commands.add_parser("status", help="which providers are connected (secrets: last 4 characters)")
    add_json_flag(status)
    status.set_defaults(run=cmd_status)
    commands.add_parser("reconcile", help="ask the providers about payments still pending").set_defaults(
        run=cmd_reconcile)
