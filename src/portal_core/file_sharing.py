"""Files on jobs and invoices: staff attach and detach them; clients list, view and download the ones they may see.

There is no client upload anywhere: the only way a file enters the portal is attach_file, a staff use case.
"""

from __future__ import annotations

import re
from typing import BinaryIO

import attrs

from portal_core import policy, records, webhooks
from portal_core.companies import find_company
from portal_core.errors import InvalidInput, UnknownRecord
from portal_core.ids import new_id
from portal_core.model.documents import Invoice, Job
from portal_core.model.files import File
from portal_core.model.webhook import EventType
from portal_core.paging import Page, page_of, window
from portal_core.ports import Clock, FileStorage, Randomness, UnitOfWork
from portal_core.sign_in import Viewer

MAX_NAME_LENGTH = 255
# type/subtype as RFC 6838 allows them; parameters are dropped (text is always served as UTF-8).
_CONTENT_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
NOT_FOUND = "no such file"


@attrs.frozen(kw_only=True)
class FileGroup:
    """The files of one job or invoice, as the Files section shows them."""

    parent: Job | Invoice
    files: tuple[File, ...]

    @property
    def is_job(self) -> bool:
        return isinstance(self.parent, Job)


@attrs.frozen(kw_only=True)
class AttachedFile:
    """A file with the record it hangs off, for staff listings."""

    file: File
    parent: Job | Invoice


def normalise_content_type(value: str) -> str:
    content_type = value.split(";", 1)[0].strip().lower()
    if not _CONTENT_TYPE.match(content_type):
        raise InvalidInput(f"{value!r} is not a content type like application/pdf")
    return content_type


def normalise_file_name(value: str) -> str:
    """The name shown to clients and offered on download; never used as a path anywhere."""
    name = value.strip()
    if not name:
        raise InvalidInput("a file needs a name")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(f"a file name may have at most {MAX_NAME_LENGTH} characters")
    if _CONTROL.search(name):
        raise InvalidInput("a file name may not contain control characters")
    return name


def attach_file(uow: UnitOfWork, *, storage: FileStorage, clock: Clock, randomness: Randomness,
                job_ref: str | None = None, invoice_ref: str | None = None, name: str, content_type: str,
                stream: BinaryIO) -> File:
    """Stores the contents and attaches them to one job or one invoice (a draft invoice too: its files show once
    it is sent). Raises InvalidInput, UnknownRecord (no such job or invoice) and StorageError."""
    if (job_ref is None) == (invoice_ref is None):
        raise InvalidInput("attach a file to exactly one job or one invoice")
    name = normalise_file_name(name)
    content_type = normalise_content_type(content_type)
    with uow:
        if job_ref is not None:
            parent: Job | Invoice = records.find_by_ref_or_id(uow.jobs, job_ref, "job")
        else:
            parent = records.find_by_ref_or_id(uow.invoices, invoice_ref or "", "invoice")
        # Contents are addressed by their hash, so a failed transaction leaves at worst an unreferenced blob.
        content_hash, size = storage.put(stream)
        file = File(id=new_id(randomness), company_id=parent.company_id, name=name, content_type=content_type,
                    size=size, content_hash=content_hash, attached_at=clock.now(),
                    job_id=parent.id if isinstance(parent, Job) else None,
                    invoice_id=parent.id if isinstance(parent, Invoice) else None)
        uow.files.add(file)
        uow.commit()
    return file


def detach_file(uow: UnitOfWork, file_id: str) -> File:
    """The file disappears from the portal at once. The contents stay in storage (other files may share them)."""
    with uow:
        file = records.find_by_ref_or_id(uow.files, file_id, "file")
        uow.files.remove(file.id)
        uow.commit()
    return file


def list_company_files(uow: UnitOfWork, company_key: str) -> list[AttachedFile]:
    """Every file of a company, visible to its contacts or not (staff view). Raises UnknownCompany."""
    with uow:
        company = find_company(uow, company_key)
        files = uow.files.list_for_company(company.id)
        parents = _parents(uow, files)
    return [AttachedFile(file=f, parent=p) for f in files if (p := _parent_of(f, parents)) is not None]


def _parents(uow: UnitOfWork, files: list[File]) -> dict[tuple[str, str], Job | Invoice]:
    """Two queries, however many files: every job and every invoice the files hang off."""
    job_ids = sorted({f.job_id for f in files if f.job_id})
    invoice_ids = sorted({f.invoice_id for f in files if f.invoice_id})
    parents: dict[tuple[str, str], Job | Invoice] = {}
    for job in uow.jobs.get_many(job_ids) if job_ids else []:
        parents[("job", job.id)] = job
    for invoice in uow.invoices.get_many(invoice_ids) if invoice_ids else []:
        parents[("invoice", invoice.id)] = invoice
    return parents


def _parent_of(file: File, parents: dict[tuple[str, str], Job | Invoice]) -> Job | Invoice | None:
    if file.job_id is not None:
        return parents.get(("job", file.job_id))
    return parents.get(("invoice", file.invoice_id or ""))


def list_visible_files(uow: UnitOfWork, viewer: Viewer, *, page: int = 1) -> Page[FileGroup]:
    """The Files section, a page at a time: the company's files newest first, PAGE_SIZE to a page, and on the page
    grouped by their job or invoice (jobs first, then invoices, in the order their newest file was attached). A file
    on a record the viewer may not see (a draft invoice) is left out, so such a page shows fewer. Three repository
    calls a page, whatever the number of files; past MAX_PAGE, none."""
    wanted = window(page)
    if wanted is None:
        return page_of([], page)
    with uow:
        offset, limit = wanted
        fetched = page_of(uow.files.list_for_company(viewer.company.id, offset=offset, limit=limit), page)
        files = list(fetched.items)
        parents = _parents(uow, files)
    groups: dict[tuple[str, str], list[File]] = {}
    for file in files:  # newest first, so each group is too
        parent = _parent_of(file, parents)
        if parent is None or not policy.can_see_file(viewer.company, viewer.contact, file, parent):
            continue
        groups.setdefault(("job" if isinstance(parent, Job) else "invoice", parent.id), []).append(file)
    ordered = sorted(groups, key=lambda key: 0 if key[0] == "job" else 1)  # stable: keeps the newest-first order
    return Page(items=tuple(FileGroup(parent=parents[key], files=tuple(groups[key])) for key in ordered),
                number=page, has_next=fetched.has_next)


def open_visible_file(uow: UnitOfWork, *, storage: FileStorage, clock: Clock, randomness: Randomness,
                      viewer: Viewer, file_id: str, download: bool, ip: str | None = None) -> tuple[File, BinaryIO]:
    """The file and a stream of its contents, and an audit entry (file_viewed or file_downloaded).

    Raises UnknownRecord alike for an unknown id, another company's file, a detached file and a file whose job or
    invoice the viewer may not see (a draft invoice): the client cannot tell them apart. Raises StorageError when
    the contents are missing. The caller closes the stream.
    """
    with uow:
        file = uow.files.get(file_id)
        parent: Job | Invoice | None = None
        if file is not None and file.company_id == viewer.company.id:
            parent = uow.jobs.get(file.job_id) if file.job_id else uow.invoices.get(file.invoice_id or "")
        if not policy.can_see_file(viewer.company, viewer.contact, file, parent) or file is None:
            raise UnknownRecord(NOT_FOUND)
        stream = storage.open(file.content_hash)
        try:
            records.audit(uow, randomness=randomness, clock=clock,
                          action="file_downloaded" if download else "file_viewed",
                          company_id=viewer.company.id, contact_id=viewer.contact.id, ip=ip, detail=file.id)
            webhooks.emit(uow, clock=clock, randomness=randomness, event=EventType.FILE_DOWNLOADED, data={
                "id": file.id, "name": file.name, "company": viewer.company.ref, "contact": viewer.contact.ref,
                ("job" if file.job_id else "invoice"): parent.ref if parent is not None else None,
                "inline": not download})
            uow.commit()
        except BaseException:
            stream.close()
            raise
    return file, stream
