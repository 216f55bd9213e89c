"""The Requests section: the company's requests, and the New request form that emails the business."""

from __future__ import annotations

from flask import flash, get_flashed_messages, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from entrypoints.web.portal import portal_blueprint, requested_page, signed_in, viewer
from entrypoints.web.refusals import log_refusal
from entrypoints.web.services import mail, portal_services
from portal_core import client_requests
from portal_core.errors import InvalidInput, RequestFormInvalid, Throttled

blueprint = portal_blueprint("client_requests", __name__)

CONFIRMATION = "Thank you. Your request was sent to our team; we will be in touch."


def _ids() -> client_requests.RequestIds:
    return client_requests.RequestIds.from_secret(portal_services().settings.require_secret())


def _form(title: str = "", details: str = "", form_token: str | None = None,
          errors: dict[str, str] | None = None, problem: str | None = None) -> str:
    token = form_token or _ids().issue_form_token(portal_services().randomness, viewer())
    return render_template("requests/new.html", title=title, details=details, form_token=token, errors=errors or {},
                           problem=problem, title_max=client_requests.TITLE_MAX,
                           details_max=client_requests.DETAILS_MAX)


@blueprint.get("/requests")
@signed_in
def index() -> ResponseReturnValue:
    number = requested_page()
    page = client_requests.list_requests(portal_services().reader(), viewer(), number)
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
        created, queued = client_requests.submit_request(
            services.uow(), clock=services.clock, randomness=services.randomness, templates=services.templates,
            ids=_ids(),
            throttle=services.sign_in_secrets.throttle, viewer=viewer(), title=title, details=details,
            form_token=form_token)
    except RequestFormInvalid as exc:
        # The same form token again: once the corrected form goes through, a resend of it still makes one request.
        return _form(title, details, form_token or None, exc.fields), 400
    except Throttled as exc:
        log_refusal("throttled " + exc.limit)
        return _form(title, details, form_token or None, problem=str(exc)), 429
    except InvalidInput as exc:
        # A token this server never issued to this contact: nothing is stored; a fresh form keeps what was typed.
        return _form(title, details, None, problem=str(exc)), 400
    mail().nudge([queued])
    flash(CONFIRMATION, "request-sent")
    return redirect(url_for("client_requests.detail", request_id=created.id), 303)


@blueprint.get("/requests/<request_id>")
@signed_in
def detail(request_id: str) -> ResponseReturnValue:
    view = client_requests.request_detail(portal_services().reader(), viewer(), request_id)
    confirmation = get_flashed_messages(category_filter=["request-sent"])
    return render_template("requests/detail.html", view=view, confirmation=confirmation[0] if confirmation else None)
