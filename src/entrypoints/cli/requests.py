"""`portal request list|status`: the requests clients sent from the portal, and their status."""

from __future__ import annotations

import argparse

from entrypoints.cli.common import add_json_flag, print_json, services
from entrypoints.settings import Settings
from portal_core import client_requests


def cmd_request_list(args: argparse.Namespace, settings: Settings) -> int:
    views = client_requests.list_company_requests(services(settings).uow(), args.company)
    if args.json:
        print_json({"requests": [{"id": v.request.id, "ref": v.request.ref, "created_at": v.request.created_at,
                                  "status": v.request.status.value, "title": v.request.title,
                                  "details": v.request.details, "submitted_by": v.submitted_by_name}
                                 for v in views]})
        return 0
    for view in views:
        request = view.request
        print(f"{request.id}\t{request.created_at.isoformat(timespec='minutes')}\t{request.status.value}\t"
              f"{request.title}\t{view.submitted_by_name or '-'}")
    return 0


def cmd_request_status(args: argparse.Namespace, settings: Settings) -> int:
    s = services(settings)
    request = client_requests.set_request_status(s.uow(), args.request_id, args.status)
    print(f"request {request.id} is now {request.status.value}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    req = sub.add_parser("request", help="requests clients sent from the portal")
    req_sub = req.add_subparsers(dest="request_command", required=True)
    req_list = req_sub.add_parser("list", help="list a company's requests: id, date, status, title, sent by")
    req_list.add_argument("company", metavar="COMPANY")
    add_json_flag(req_list)
    req_list.set_defaults(run=cmd_request_list)
    status = req_sub.add_parser("status", help="change a request's status (new, open, in_progress, closed)")
    status.add_argument("request_id", metavar="REQUEST_ID")
    status.add_argument("status", metavar="STATUS")
    status.set_defaults(run=cmd_request_status)
