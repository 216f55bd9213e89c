"""`portal file attach|detach|list`: staff attach files to jobs and invoices, and take them away."""

from __future__ import annotations

import argparse
import mimetypes
import sys
from pathlib import Path

from entrypoints.cli.common import add_json_flag, print_json, services
from entrypoints.settings import Settings
from portal_core import file_sharing, policy
from portal_core.errors import InvalidInput
from portal_core.model.documents import Job


class UnreadableFile(InvalidInput):
    """The PATH given to `portal file attach` cannot be read."""


def cmd_file_attach(args: argparse.Namespace, settings: Settings) -> int:
    path = Path(args.path)
    content_type = args.type or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    s = services(settings)
    try:
        stream = path.open("rb")
    except OSError as exc:
        raise UnreadableFile(f"cannot read {args.path}: {exc.strerror}") from None
    with stream:
        file = file_sharing.attach_file(s.uow(), storage=s.files, clock=s.clock, randomness=s.randomness,
                                        job_ref=args.job, invoice_ref=args.invoice, name=args.name or path.name,
                                        content_type=content_type, stream=stream)
    print(file.id)  # alone on stdout, so a script can capture it
    return 0


def cmd_file_detach(args: argparse.Namespace, settings: Settings) -> int:
    s = services(settings)
    file = file_sharing.detach_file(s.uow(), args.file_id)
    print(f"detached {file.name}; clients no longer see it", file=sys.stderr)
    return 0


def cmd_file_list(args: argparse.Namespace, settings: Settings) -> int:
    rows = file_sharing.list_company_files(services(settings).uow(), args.company)
    if args.json:
        print_json({"files": [{"id": r.file.id, "ref": r.file.ref, "attached_at": r.file.attached_at,
                               "name": r.file.name, "content_type": r.file.content_type, "size": r.file.size,
                               "on": ({"job": r.parent.ref or r.parent.id} if isinstance(r.parent, Job)
                                      else {"invoice": r.parent.number}),
                               "shown": policy.is_client_visible(r.parent)} for r in rows]})
        return 0
    for row in rows:
        file, parent = row.file, row.parent
        where = (f"job {parent.ref or parent.id} ({parent.title})" if isinstance(parent, Job)
                 else f"invoice {parent.number}")
        shown = "shown" if policy.is_client_visible(parent) else "hidden until sent"
        print(f"{file.id}\t{file.attached_at.date().isoformat()}\t{where}\t{file.name}\t{file.content_type}\t"
              f"{file.size}\t{shown}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    file = sub.add_parser("file", help="files on jobs and invoices (what clients may view and download)")
    file_sub = file.add_subparsers(dest="file_command", required=True)
    attach = file_sub.add_parser("attach", help="attach a file to a job or an invoice; prints the new file's id")
    target = attach.add_mutually_exclusive_group(required=True)
    target.add_argument("--job", metavar="REF")
    target.add_argument("--invoice", metavar="REF")
    attach.add_argument("--name", help="the name clients see (default: the file's own name)")
    attach.add_argument("--type", help="the content type (default: guessed from the name)")
    attach.add_argument("path", metavar="PATH")
    attach.set_defaults(run=cmd_file_attach)
    detach = file_sub.add_parser("detach", help="detach a file: clients stop seeing it at once")
    detach.add_argument("file_id", metavar="FILE_ID")
    detach.set_defaults(run=cmd_file_detach)
    listing = file_sub.add_parser("list", help="list a company's files")
    listing.add_argument("company", metavar="COMPANY")
    add_json_flag(listing)
    listing.set_defaults(run=cmd_file_list)

