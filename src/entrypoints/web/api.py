"""The business-side API, /api/v1 (docs/api.md): a CRM that cannot import portal_core writes its records by its own
refs, with the seed format's records, rules and messages, and reads back what clients did (requests, payments).

Authenticated by `Authorization: Bearer <key>` (portal_core.api_keys) on every call but the OpenAPI document. It has
no cookie session, never reads or sets the portal's cookies, and is exempt from CSRF for that reason. Every answer
is JSON, errors included: {"error": {"code", "message", "field"}}."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from importlib.metadata import version
from typing import Any, BinaryIO, cast

import attrs
from flask import Blueprint, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from entrypoints.web.openapi import COMPANY, LINK, PAYMENT, REQUEST, SENT, Operation, document, page_of, record_schema
from entrypoints.web.services import portal_services
from portal_core import api_keys, companies, crm_sync, errors, file_sharing, invoices, sending
from portal_core.model.money import Money
from portal_core.seed import load_company_records, load_seed
from portal_core.seed_format import (
    SeedCompany,
    SeedContact,
    SeedInvoice,
    SeedJob,
    SeedProduct,
    SeedProject,
    SeedQuote,
    SeedTask,
)

log = logging.getLogger("portal.api")

blueprint = Blueprint("api", __name__, url_prefix="/api/v1")
OPERATIONS: list[Operation] = []
KINDS: dict[str, type] = {"invoices": SeedInvoice, "quotes": SeedQuote, "jobs": SeedJob, "projects": SeedProject,
                          "tasks": SeedTask}


def operation(rule: str, method: str, summary: str, *, status: int = 200, response: dict[str, Any] | None = None,
              **more: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Routes a view and declares it in the OpenAPI document, in one place."""
    def register(view: Callable[..., Any]) -> Callable[..., Any]:
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule)
        OPERATIONS.append(Operation(method=method, path=path, operation_id=view.__name__, summary=summary,
                                    status=status, response=response, **more))
        blueprint.add_url_rule(rule, view_func=view, methods=[method])
        return view
    return register


# ---- errors: one JSON shape --------------------------------------------------------------------------------------

class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


def error_response(status: int, code: str, message: str, field: str | None = None) -> Response:
    response = jsonify({"error": {"code": code, "message": message, "field": field}})
    response.status_code = status
    return response


_PATH_IN_MESSAGE = (re.compile(r"@ (\$[^\s;]*)"), re.compile(r"^(\$[^\s:]*):"), re.compile(r"^(\w+):"))


def _field_of(message: str) -> str | None:
    for pattern in _PATH_IN_MESSAGE:
        found = pattern.search(message)
        if found:
            return found.group(1)
    return None


ERRORS: list[tuple[type[Exception], int, str]] = [
    (errors.NotAuthenticated, 401, "unauthorized"),
    (errors.Throttled, 429, "rate_limited"),
    (errors.NotFound, 404, "not_found"),
    (errors.Conflict, 409, "conflict"),
    (errors.InvalidInput, 422, "invalid"),
    (errors.DatabaseUnavailable, 503, "unavailable"),
    (errors.StorageError, 503, "storage_unavailable"),
    (errors.DeliveryFailed, 503, "mail_unavailable"),
    (errors.PortalError, 422, "invalid"),
]


def _portal_error(exc: errors.PortalError) -> Response:
    for kind, status, code in ERRORS:
        if isinstance(exc, kind):
            message = str(exc)
            prefix = g.get("api_path_prefix")  # where the body sat inside the seed document the loader was given
            if prefix:
                message = message.replace(prefix, "$")
            response = error_response(status, code, message, _field_of(message) if status == 422 else None)
            if isinstance(exc, errors.Throttled) and exc.retry_after:
                response.headers["Retry-After"] = str(exc.retry_after)
            if status == 401:
                response.headers["WWW-Authenticate"] = 'Bearer realm="portal api"'
            return response
    raise AssertionError("PortalError is in the table")  # pragma: no cover


@blueprint.errorhandler(ApiError)
def _api_error(exc: ApiError) -> Response:
    return error_response(exc.status, exc.code, exc.message, exc.field)


blueprint.register_error_handler(errors.PortalError, _portal_error)


def http_error(exc: HTTPException) -> Response:
    """Werkzeug's errors under /api/ (no such route, method, too large), as JSON; app.py hands them here."""
    codes = {404: "not_found", 405: "method_not_allowed", 413: "too_large", 400: "malformed"}
    response = error_response(exc.code or 500, codes.get(exc.code or 500, "error"),
                              exc.description or "error")
    if exc.code == 405 and getattr(exc, "valid_methods", None):
        response.headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
    return response


@blueprint.errorhandler(Exception)
def _unexpected(exc: Exception) -> Response:
    if isinstance(exc, HTTPException):
        return http_error(exc)
    log.exception("unexpected error on %s %s", request.method, request.endpoint)
    return error_response(500, "internal", "something went wrong on our side; nothing was changed")


# ---- authentication: every call but the document -----------------------------------------------------------------

@blueprint.before_request
def _authenticate() -> None:
    if request.endpoint == "api.openapi":
        return
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    services = portal_services()
    g.api_key = api_keys.authenticate(services.uow(), secrets=services.api_key_secrets, clock=services.clock,
                                      presented=presented.strip() if scheme.lower() == "bearer" else None,
                                      per_minute=services.settings.api_rate_per_minute)
    if request.endpoint == "api.post_file":  # files have their own limit (PORTAL_MAX_UPLOAD_MB), JSON bodies 1 MiB
        request.max_content_length = services.settings.max_upload_mb * 1024 * 1024
    if request.content_length is not None and request.content_length > (request.max_content_length or 0):
        raise RequestEntityTooLarge()  # said before a byte of the body is read


@blueprint.after_request
def _not_cached(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


# ---- bodies ------------------------------------------------------------------------------------------------------

def _json_object() -> dict[str, Any]:
    if not request.mimetype or request.mimetype != "application/json":
        raise ApiError(400, "malformed_json", "send the body as JSON (Content-Type: application/json)")
    try:
        body = json.loads(request.get_data(cache=False) or b"null")
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ApiError(400, "malformed_json", "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(422, "invalid", "the body must be a JSON object", "$")
    _refuse_unstorable_text(body, "$")
    return body


def _refuse_unstorable_text(value: Any, path: str) -> None:
    """No text of the portal holds a NUL or a lone surrogate (\\ud800): the databases refuse both."""
    if isinstance(value, str):
        if "\x00" in value or any("\ud800" <= ch <= "\udfff" for ch in value):
            raise ApiError(422, "invalid", f"{path}: text may not contain NUL characters or lone surrogates", path)
    elif isinstance(value, dict):
        for key, item in value.items():
            _refuse_unstorable_text(key, path)
            _refuse_unstorable_text(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _refuse_unstorable_text(item, f"{path}[{index}]")


def _record_body(ref: str) -> dict[str, Any]:
    """The body, a seed record without its ref (the path carries it); a ref that differs is refused."""
    body = _json_object()
    if "ref" in body and body["ref"] != ref:
        raise ApiError(422, "invalid", f"$.ref: the body names {body['ref']!r} but the path names {ref!r}", "$.ref")
    body.pop("ref", None)
    return {**body, "ref": ref}


def _created_or_updated(created: bool, payload: dict[str, Any]) -> tuple[Response, int]:
    return jsonify(payload), 201 if created else 200


# ---- companies ---------------------------------------------------------------------------------------------------

def _company(company: Any) -> dict[str, Any]:
    return {"ref": company.ref, "name": company.name, "portal_enabled": company.portal_enabled}


def _company_by_ref(ref: str) -> Any:
    return crm_sync.company_by_ref(portal_services().uow(), ref)


@operation("/companies", "GET", "Every company, in name order", response=page_of(COMPANY))
def list_companies() -> Response:
    found = companies.list_companies(portal_services().uow())
    return jsonify({"data": [_company(c) for c in found], "next_cursor": None})


@operation("/companies/<ref>", "GET", "One company", response=COMPANY, errors=(401, 404, 429))
def get_company(ref: str) -> Response:
    return jsonify(_company(_company_by_ref(ref)))


@operation("/companies/<ref>", "PUT", "Create or update a company (a seed company, its records included)",
           response=COMPANY, body=SeedCompany, body_without=("ref",), also=(201,), errors=(401, 409, 413, 422, 429))
def put_company(ref: str) -> tuple[Response, int]:
    record = _record_body(ref)
    services = portal_services()
    g.api_path_prefix = "$.companies[0]"
    report = load_seed(services.uow(), randomness=services.randomness, clock=services.clock, storage=services.files,
                       document={"companies": [record]})
    return _created_or_updated("$.companies[0]" in report.created, _company(_company_by_ref(ref)))


@operation("/companies/<ref>/link", "GET", "The company's portal link", response=LINK, errors=(401, 404, 429))
def get_link(ref: str) -> Response:
    return jsonify({"url": companies.portal_link(portal_services().settings.base_url, _company_by_ref(ref))})


@operation("/companies/<ref>/link/rotate", "POST", "A new portal link; the previous one stops working",
           response=LINK, errors=(401, 404, 429))
def rotate_link(ref: str) -> Response:
    services = portal_services()
    _company_by_ref(ref)  # by ref only: a company's name is not a key here
    company = companies.rotate_link(services.uow(), randomness=services.randomness, company_key=ref)
    return jsonify({"url": companies.portal_link(services.settings.base_url, company)})


# ---- a company's records -----------------------------------------------------------------------------------------

def _put_records(company_ref: str, kind: str, item_ref: str) -> tuple[Response, int]:
    record = _record_body(item_ref)
    services = portal_services()
    g.api_path_prefix = f"$.{kind}[0]"
    report = load_company_records(services.uow(), randomness=services.randomness, clock=services.clock,
                                  storage=services.files, company_ref=company_ref, document={kind: [record]})
    return _created_or_updated(f"$.{kind}[0]" in report.created,
                               crm_sync.stored_record(services.uow(), kind, item_ref))


@operation("/companies/<ref>/contacts/<contact_ref>", "PUT", "Create or update a contact of the company",
           response=record_schema(SeedContact, {}), body=SeedContact, body_without=("ref",), also=(201,),
           errors=(401, 404, 409, 422, 429))
def put_contact(ref: str, contact_ref: str) -> tuple[Response, int]:
    return _put_records(ref, "contacts", contact_ref)


@operation("/companies/<ref>/contacts/<contact_ref>", "DELETE", "Remove a contact; their sessions end",
           status=204, errors=(401, 404, 429))
def delete_contact(ref: str, contact_ref: str) -> tuple[str, int]:
    crm_sync.remove_contact_by_ref(portal_services().uow(), ref, contact_ref)
    return "", 204


def _put_kind(kind: str, record_type: type) -> None:
    def view(ref: str, item_ref: str) -> tuple[Response, int]:
        return _put_records(ref, kind, item_ref)

    view.__name__ = f"put_{kind[:-1]}"
    operation(f"/companies/<ref>/{kind}/<item_ref>", "PUT", f"Create or update a {kind[:-1]} of the company",
              response=record_schema(record_type, {}), body=record_type, body_without=("ref",), also=(201,),
              errors=(401, 404, 409, 422, 429))(view)


for _kind, _type in KINDS.items():
    _put_kind(_kind, _type)


@operation("/products/<ref>", "PUT", "Create or update a product or service", response=record_schema(SeedProduct, {}),
           body=SeedProduct, body_without=("ref",), also=(201,), errors=(401, 409, 422, 429))
def put_product(ref: str) -> tuple[Response, int]:
    record = _record_body(ref)
    services = portal_services()
    g.api_path_prefix = "$.products[0]"
    report = load_seed(services.uow(), randomness=services.randomness, clock=services.clock, storage=services.files,
                       document={"products": [record]})
    return _created_or_updated("$.products[0]" in report.created,
                               crm_sync.stored_record(services.uow(), "products", ref))


# ---- sending and voiding -----------------------------------------------------------------------------------------

def _send(ref: str, send: Callable[..., sending.SendOutcome]) -> Response:
    """send_invoice or send_quote, with the same rules as `portal invoice send` / `portal quote send`."""
    s = portal_services()
    outcome = send(s.uow(), sender=s.email_sender, templates=s.templates, clock=s.clock, randomness=s.randomness,
                   base_url=s.settings.base_url, ref=ref, documents=s.documents)
    document_ = outcome.document
    return jsonify({"ref": ref, "number": document_.number, "status": document_.status.value,
                    "changed": outcome.changed, "notified": sum(1 for d in outcome.deliveries if d.delivered),
                    "not_delivered": len(outcome.failures)})


@operation("/invoices/<ref>/send", "POST", "Send an invoice: clients see it, its contacts are notified",
           response=SENT, errors=(401, 404, 422, 429))
def send_invoice(ref: str) -> Response:
    return _send(ref, sending.send_invoice)


@operation("/quotes/<ref>/send", "POST", "Send a quote: clients see it, its contacts are notified",
           response=SENT, errors=(401, 404, 422, 429))
def send_quote(ref: str) -> Response:
    return _send(ref, sending.send_quote)


@operation("/invoices/<ref>/void", "POST", "Void an invoice: clients no longer see it and it cannot be paid",
           response={"type": "object", "required": ["ref", "number", "status", "changed"],
                     "properties": {"ref": {"type": "string"}, "number": {"type": "string"},
                                    "status": {"type": "string"}, "changed": {"type": "boolean"}}},
           errors=(401, 404, 422, 429))
def void_invoice(ref: str) -> Response:
    s = portal_services()
    outcome = invoices.void_invoice(s.uow(), clock=s.clock, randomness=s.randomness, ref=ref)
    return jsonify({"ref": ref, "number": outcome.invoice.number, "status": outcome.invoice.status.value,
                    "changed": outcome.changed})


# ---- files -------------------------------------------------------------------------------------------------------

@operation("/files", "POST", "Attach a file to a job or an invoice (multipart: file, then job or invoice)",
           status=201, response={"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}},
           multipart={"type": "object", "required": ["file"],
                      "properties": {"file": {"type": "string", "contentMediaType": "application/octet-stream"},
                                     "job": {"type": "string"}, "invoice": {"type": "string"},
                                     "name": {"type": "string"}}},
           errors=(401, 404, 413, 422, 429))
def post_file() -> tuple[Response, int]:
    if request.mimetype != "multipart/form-data":
        raise ApiError(400, "malformed", "send the file as multipart/form-data with the field `file`")
    if any("\x00" in key or "\x00" in value for key, value in request.form.items(multi=True)):
        raise ApiError(422, "invalid", "a form field may not contain NUL characters", None)
    upload = request.files.get("file")
    if upload is None:
        raise ApiError(422, "invalid", "file: the field `file` is required", "file")
    job, invoice = request.form.get("job") or None, request.form.get("invoice") or None
    if (job is None) == (invoice is None):
        raise ApiError(422, "invalid", "job: name exactly one of the fields `job` or `invoice`", "job")
    s = portal_services()
    try:
        file = file_sharing.attach_file(s.uow(), storage=s.files, clock=s.clock, randomness=s.randomness, job_ref=job,
                                        invoice_ref=invoice,
                                        name=request.form.get("name") or upload.filename or "file",
                                        content_type=upload.mimetype or "application/octet-stream",
                                        stream=cast(BinaryIO, upload.stream))
    finally:
        upload.close()  # a large upload was spooled to a temporary file: closed (and removed) here, stored or not
    return jsonify({"id": file.id}), 201


@operation("/files/<file_id>", "DELETE", "Detach a file: clients no longer see it", status=204,
           errors=(401, 404, 429))
def delete_file(file_id: str) -> tuple[str, int]:
    file_sharing.detach_file(portal_services().uow(), file_id)
    return "", 204


# ---- what clients did: requests and payments ---------------------------------------------------------------------

SINCE = (("since", "the next_cursor of the previous page; without it the feed starts from the beginning"),)


def _request(entry: crm_sync.RequestEntry) -> dict[str, Any]:
    r = entry.request
    return {"id": r.id, "company": entry.company.ref, "title": r.title, "details": r.details,
            "status": r.status.value, "created_at": r.created_at.isoformat(),
            "submitted_by": entry.submitted_by.ref if entry.submitted_by else None}


@operation("/requests", "GET", "Requests clients sent, oldest first, read on from a cursor",
           response=page_of(REQUEST), query=SINCE, errors=(401, 422, 429))
def list_requests() -> Response:
    services = portal_services()
    page = crm_sync.requests_since(services.uow(), request.args.get("since"), clock=services.clock)
    return jsonify({"data": [_request(e) for e in page.items], "next_cursor": page.next_cursor})


@attrs.frozen(kw_only=True)
class RequestChange:
    status: str  # new, open, in_progress or closed


@operation("/requests/<request_id>", "PATCH", "Change a request's status", response=REQUEST, body=RequestChange,
           errors=(401, 404, 413, 422, 429))
def patch_request(request_id: str) -> Response:
    body = _json_object()
    unknown = sorted(set(body) - {"status"})
    if unknown:
        raise ApiError(422, "invalid", f"$.{unknown[0]}: only `status` can be changed", f"$.{unknown[0]}")
    if not isinstance(body.get("status"), str):
        raise ApiError(422, "invalid", "$.status: give the new status as a string", "$.status")
    try:
        return jsonify(_request(crm_sync.set_request_status(portal_services().uow(), request_id, body["status"])))
    except errors.InvalidInput as exc:
        raise ApiError(422, "invalid", f"$.status: {exc}", "$.status") from None


def _payment(entry: crm_sync.PaymentEntry) -> dict[str, Any]:
    p = entry.payment
    assert p.settled_at is not None
    return {"invoice": entry.invoice.ref, "number": entry.invoice.number,
            "amount": Money(entry.amount_minor, p.amount.currency).decimal_string(), "currency": p.amount.currency,
            "provider": p.provider.value, "provider_reference": p.provider_ref, "paid_at": p.settled_at.isoformat()}


@operation("/payments", "GET", "Confirmed payments, oldest first (one entry per invoice paid), from a cursor",
           response=page_of(PAYMENT), query=SINCE, errors=(401, 422, 429))
def list_payments() -> Response:
    services = portal_services()
    page = crm_sync.payments_since(services.uow(), request.args.get("since"), clock=services.clock)
    return jsonify({"data": [_payment(e) for e in page.items], "next_cursor": page.next_cursor})


# ---- the document ------------------------------------------------------------------------------------------------

@operation("/openapi.json", "GET", "This API's OpenAPI 3.1 document (no key needed)", response={"type": "object"},
           public=True)
def openapi() -> Response:
    return jsonify(document(OPERATIONS, version=version("client-portal")))
