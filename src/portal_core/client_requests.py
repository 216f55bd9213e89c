"""Requests from the portal: a contact submits one (the business is emailed), the company's contacts read them,
staff list them and move them along."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re

import attrs

from portal_core import outbox, records, webhooks
from portal_core.companies import find_company
from portal_core.errors import (
    Conflict,
    InvalidInput,
    PortalUnavailable,
    RequestFormInvalid,
    Throttled,
    UnknownRecord,
)
from portal_core.ids import ID_BYTES, command_line_safe
from portal_core.model.contact import Contact
from portal_core.model.documents import ClientRequest, RequestStatus
from portal_core.model.mail import NewRequestNotice
from portal_core.model.outbox import MailPurpose
from portal_core.model.webhook import EventType
from portal_core.paging import Page, page_of, window
from portal_core.ports import Clock, EmailTemplates, Randomness, UnitOfWork
from portal_core.sign_in import ThrottleKeys, Viewer

TITLE_MAX = 200
DETAILS_MAX = 5000
FORM_TOKEN_BYTES = 16
# What a one-time form token may look like: url-safe, long enough to be unguessable, short enough to hash cheaply.
_FORM_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}\.[A-Za-z0-9_-]{22}$")
# New requests a contact may send in an hour: each one is mailed to the business.
REQUESTS_PER_HOUR = 10
TOO_MANY = ("You have sent many requests in the last hour. Please wait a while before sending another; "
            "what you typed is still here.")
STALE_FORM = "This form has expired. Please reload the page and try again."
NOT_FOUND = "no such request"


@attrs.frozen
class RequestIds:
    """The New request form's one-time token, issued and signed by the server for one contact, and the request id
    derived from it: sending that form twice finds the first request instead of making a second. A token the
    server did not issue to this contact is refused, so nobody can make one up or aim it at an id of their choice."""

    key: bytes = attrs.field(repr=False)

    @classmethod
    def from_secret(cls, secret: str) -> RequestIds:
        return cls(hmac.new(secret.encode(), b"portal request ids v1", hashlib.sha256).digest())

    def _mac(self, purpose: bytes, company_id: str, contact_id: str, nonce: str) -> bytes:
        message = purpose + b"\x00" + f"{company_id}\x00{contact_id}\x00{nonce}".encode()
        return hmac.new(self.key, message, hashlib.sha256).digest()

    def issue_form_token(self, randomness: Randomness, viewer: Viewer) -> str:
        nonce = randomness.token(FORM_TOKEN_BYTES)
        tag = self._mac(b"form", viewer.company.id, viewer.contact.id, nonce)[:16]
        return f"{nonce}.{base64.urlsafe_b64encode(tag).decode().rstrip('=')}"

    def for_form(self, company_id: str, contact_id: str, form_token: str) -> str:
        """The request id of a form token this server issued to this contact; InvalidInput for any other token."""
        if not _FORM_TOKEN.fullmatch(form_token or ""):
            raise InvalidInput(STALE_FORM)
        nonce, _, tag = form_token.partition(".")
        expected = base64.urlsafe_b64encode(self._mac(b"form", company_id, contact_id, nonce)[:16]).decode()
        if not hmac.compare_digest(expected.rstrip("="), tag):
            raise InvalidInput(STALE_FORM)
        digest = self._mac(b"id", company_id, contact_id, nonce)
        # The same shape as every other public id: ID_BYTES of url-safe base64.
        return command_line_safe(base64.urlsafe_b64encode(digest[:ID_BYTES]).decode().rstrip("="))


@attrs.frozen(kw_only=True)
class RequestView:
    request: ClientRequest
    submitted_by_name: str | None


def validate_request(title: str, details: str) -> tuple[str, str]:
    """The trimmed title and details, or RequestFormInvalid with one message per bad field."""
    title = (title or "").strip()
    details = (details or "").strip()
    problems: dict[str, str] = {}
    if not title:
        problems["title"] = "Enter a title for your request."
    elif len(title) > TITLE_MAX:
        problems["title"] = f"Keep the title to {TITLE_MAX} characters or fewer (it has {len(title)})."
    if not details:
        problems["details"] = "Describe what you need."
    elif len(details) > DETAILS_MAX:
        problems["details"] = f"Keep the details to {DETAILS_MAX} characters or fewer (they have {len(details)})."
    if problems:
        raise RequestFormInvalid(problems)
    return title, details


def _view(request: ClientRequest, contacts: dict[str, Contact]) -> RequestView:
    contact = contacts.get(request.submitted_by or "")
    return RequestView(request=request, submitted_by_name=contact.name if contact else None)


def submit_request(uow: UnitOfWork, *, clock: Clock, randomness: Randomness, templates: EmailTemplates,
                   ids: RequestIds, throttle: ThrottleKeys, viewer: Viewer, title: str, details: str,
                   form_token: str) -> tuple[ClientRequest, str | None]:
    """Stores a new request (status new, submitted by the viewer) and renders the business's notice.

    The business's notice is queued in the outbox in the same transaction: returns the request and that
    message's outbox id. Sending the same form again returns the request it made and no message. Raises
    RequestFormInvalid (nothing stored), InvalidInput for a form token this server did not issue to the viewer,
    Throttled past REQUESTS_PER_HOUR new requests of the viewer in an hour, and PortalUnavailable when no business
    is set up.
    """
    title, details = validate_request(title, details)
    request_id = ids.for_form(viewer.company.id, viewer.contact.id, form_token)
    limit_key = throttle.for_client_requests(viewer.contact.id)
    try:
        with uow:
            uow.login_requests.lock(limit_key)  # parallel submits of one contact are counted one at a time
            existing = uow.requests.get(request_id)
            if existing is not None:
                return _same_sender(existing, viewer), None
            now = clock.now()
            if uow.login_requests.count_since(limit_key, now - dt.timedelta(hours=1)) >= REQUESTS_PER_HOUR:
                raise Throttled(TOO_MANY, limit="client-requests")
            uow.login_requests.record(limit_key, now)
            business = uow.business.get()
            if business is None:
                raise PortalUnavailable("the portal is not set up: no business")
            request = ClientRequest(id=request_id, company_id=viewer.company.id, title=title, details=details,
                                    status=RequestStatus.NEW, created_at=now, submitted_by=viewer.contact.id)
            uow.requests.add(request)
            records.audit(uow, randomness=randomness, at=request.created_at, action="request_submitted",
                          company_id=viewer.company.id, contact_id=viewer.contact.id, detail=request.id)
            notice = NewRequestNotice(business=business, request_id=request.id, company_name=viewer.company.name,
                                      contact_name=viewer.contact.name, contact_email=viewer.contact.email,
                                      title=title, details=details, language=business.default_language)
            queued = outbox.enqueue(uow, clock=clock, randomness=randomness,
                                    email=templates.render(notice, to=business.email),
                                    purpose=MailPurpose.NEW_REQUEST, company_id=viewer.company.id,
                                    contact_id=viewer.contact.id, subject_ref=f"request:{request.id}")
            webhooks.emit(uow, clock=clock, randomness=randomness, event=EventType.REQUEST_CREATED, data={
                "id": request.id, "company": viewer.company.ref, "title": title, "details": details,
                "status": request.status.value, "created_at": now.isoformat(), "submitted_by": viewer.contact.ref})
            uow.commit()
    except Conflict:
        # A double click sends the form twice at once: the second insert of the same id loses the race. If the
        # request is there now, the submit did succeed; anything else is re-raised untouched.
        with uow:
            existing = uow.requests.get(request_id)
        if existing is None:
            raise
        return _same_sender(existing, viewer), None
    return request, queued


def _same_sender(existing: ClientRequest, viewer: Viewer) -> ClientRequest:
    # The id is keyed on company and contact, so a mismatch means a collision or tampering: never hand it over.
    if existing.company_id != viewer.company.id or existing.submitted_by != viewer.contact.id:
        raise InvalidInput(STALE_FORM)
    return existing


def list_requests(uow: UnitOfWork, viewer: Viewer, page: int = 1) -> Page[RequestView]:
    """The company's requests from all its contacts, newest first (the company shares one portal); past MAX_PAGE,
    none."""
    wanted = window(page)
    if wanted is None:
        return page_of([], page)
    with uow:
        offset, limit = wanted
        rows = uow.requests.list_for_company(viewer.company.id, offset=offset, limit=limit)
        contacts = {c.id: c for c in uow.contacts.list_for_company(viewer.company.id)}
    return page_of([_view(r, contacts) for r in rows if r.company_id == viewer.company.id], page)


def request_detail(uow: UnitOfWork, viewer: Viewer, request_id: str) -> RequestView:
    """Raises UnknownRecord for an unknown id and for another company's request alike."""
    with uow:
        request = uow.requests.get(request_id)
        if request is None or request.company_id != viewer.company.id:
            raise UnknownRecord(NOT_FOUND)
        submitter = uow.contacts.get(request.submitted_by) if request.submitted_by else None
    contacts = {submitter.id: submitter} if submitter and submitter.company_id == viewer.company.id else {}
    return _view(request, contacts)


def list_company_requests(uow: UnitOfWork, company_key: str) -> list[RequestView]:
    """Staff view: every request of a company, newest first. Raises UnknownCompany."""
    with uow:
        company = find_company(uow, company_key)
        rows = uow.requests.list_for_company(company.id)
        contacts = {c.id: c for c in uow.contacts.list_for_company(company.id)}
    return [_view(r, contacts) for r in rows]


def parse_status(value: str) -> RequestStatus:
    try:
        return RequestStatus(value.strip().lower())
    except ValueError:
        allowed = ", ".join(s.value for s in RequestStatus)
        raise InvalidInput(f"{value!r} is not a request status (one of {allowed})") from None


def set_request_status(uow: UnitOfWork, request_id: str, status: str | RequestStatus) -> ClientRequest:
    """Raises UnknownRecord and InvalidInput (no such status)."""
    new_status = parse_status(str(status.value if isinstance(status, RequestStatus) else status))
    with uow:
        request = records.find_by_ref_or_id(uow.requests, request_id, "request")
        request.status = new_status
        uow.requests.update(request)
        uow.commit()
    return request
