"""`portal mail ...`: the outbox seen from the command line: its counts, failed messages back in the queue, and a
dispatcher of its own for a host that serves no pages."""

from __future__ import annotations

import argparse
import signal
import sys
from types import FrameType

from entrypoints.cli.common import add_json_flag, print_json, services
from entrypoints.mail_dispatcher import Dispatcher
from entrypoints.settings import Settings
from portal_core import outbox


def cmd_mail_status(args: argparse.Namespace, settings: Settings) -> int:
    counts = outbox.mail_status(services(settings).uow())
    if args.json:
        print_json({"mail": {status.value: count for status, count in counts.items()}})
        return 0
    for status, count in counts.items():
        print(f"{status.value} {count}")
    return 0


def cmd_mail_retry(args: argparse.Namespace, settings: Settings) -> int:
    s = services(settings)
    print(f"{outbox.retry_failed(s.uow(), clock=s.clock)} failed messages are queued again")
    return 0


def cmd_mail_run(args: argparse.Namespace, settings: Settings) -> int:
    from entrypoints.server import configure_logging

    configure_logging()
    dispatcher = Dispatcher(services(settings))

    def stop(_signum: int, _frame: FrameType | None) -> None:
        dispatcher.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("dispatching mail and webhooks until stopped (SIGTERM or Ctrl+C)", file=sys.stderr, flush=True)
    dispatcher.run()  # returns after the round in progress, once stop() was called
    print("mail dispatcher stopped", file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    mail = sub.add_parser("mail", help="the mail outbox").add_subparsers(dest="mail_command", required=True)
    status = mail.add_parser("status", help="pending, sent and failed messages, one count per line")
    add_json_flag(status)
    status.set_defaults(run=cmd_mail_status)
    mail.add_parser("retry", help="put failed messages back in the queue").set_defaults(run=cmd_mail_retry)
    mail.add_parser("run", help="send queued mail and webhook deliveries until SIGTERM (a host that serves no "
                    "pages)").set_defaults(run=cmd_mail_run)
