"""The Requests section: the company's requests, and the New request form that emails the business."""

from __future__ import annotations

from collections.abc import Callable

from flask import flash, get_flashed_messages, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from entrypoints.web.app import mail_queue, portal_services
from entrypoints.web.context import portal_blueprint, signed_in, viewer
from portal_core import client_requests
from portal_core.errors import RequestFormInvalid
from portal_core.model.mail import Email

blueprint = portal_blueprint("client_requests", __name__)

CONFIRMATION = "Thank you. Your request was sent to our team; we will be in touch."


def _page_number() -> int:
    raw = request.args.get("page", "1")
    return int(raw) if raw.isdigit() and 0 < len(raw) < 6 else 1


def _form(title: str = "", details: str = "", form_token: str | None = None,
          errors: dict[str, str] | None = None) -> str:
    token = form_token or client_requests.new_form_token(portal_services().randomness)
    return render_template("requests/new.html", title=title, details=details, form_token=token, errors=errors or {},
                           title_max=client_requests.TITLE_MAX, details_max=client_requests.DETAILS_MAX)


@blueprint.get("/requests")
@signed_in
def index() -> ResponseReturnValue:
    page = client_requests.list_requests(portal_services().uow(), viewer(), _page_number())
    return render_template("requests/index.html", page=page)


@blueprint.route("/requests/new", methods=["GET", "POST"])
@signed_in
def new() -> ResponseReturnValue:
    if request.method == "GET":
        return _form()
    services = portal_services()
    title = request.form.get("title", "")
    details = request.form.get("details", "")
    form_token = request.form.get("form_token", "")
    try:
        created, email = client_requests.submit_request(
            services.uow(), services.clock, services.randomness, services.templates,
            client_requests.RequestIds.from_secret(services.settings.require_secret()), viewer(),
            title=title, details=details, form_token=form_token)
    except RequestFormInvalid as exc:
        # The same form token again: once the corrected form goes through, a resend of it still makes one request.
        return _form(title, details, form_token or None, exc.fields), 400
    if email is not None:
        mail_queue().submit(_sender(email), "a new-request notice")
    flash(CONFIRMATION, "request-sent")
    return redirect(url_for("client_requests.detail", request_id=created.id), 303)


def _sender(email: Email) -> Callable[[], None]:
    sender = portal_services().email_sender
    return lambda: sender.send(email)


@blueprint.get("/requests/<request_id>")
@signed_in
def detail(request_id: str) -> ResponseReturnValue:
    view = client_requests.request_detail(portal_services().uow(), viewer(), request_id)
    confirmation = get_flashed_messages(category_filter=["request-sent"])
    return render_template("requests/detail.html", view=view, confirmation=confirmation[0] if confirmation else None)
