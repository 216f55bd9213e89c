"""`portal serve` and `portal demo`: the portal on gunicorn (or Flask's development server), and a demo of it."""

from __future__ import annotations

import argparse
import os
import sys

from entrypoints.cli.common import UsageError
from entrypoints.settings import Settings


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from entrypoints.bootstrap import app_factory, check_email_settings, check_file_storage
    from entrypoints.server import ensure_port_free, serve

    settings.require_secret()
    if settings.app is not None:
        app_factory(settings.app)  # a PORTAL_APP that names nothing ends here, not in every worker's boot
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


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    demo = sub.add_parser("demo", help="create a demo database and serve it on 127.0.0.1")
    demo.add_argument("--port", type=int, default=5000)
    demo.set_defaults(run=cmd_demo)

    serve = sub.add_parser("serve", help="serve the portal (gunicorn; --dev for Flask's development server)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=5000)
    serve.add_argument("--workers", type=int, default=2)
    serve.add_argument("--dev", action="store_true")
    serve.set_defaults(run=cmd_serve)
