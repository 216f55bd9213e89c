"""Sign-in pages: ask for an email, mail a code off the request path, verify it, and sign out."""

from __future__ import annotations

from flask import g, make_response, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue

from entrypoints.web import metrics
from entrypoints.web.i18n import reader_language
from entrypoints.web.portal import portal_blueprint, session_cookie_name
from entrypoints.web.refusals import client_ip, log_refusal
from entrypoints.web.services import mail, portal_services
from portal_core import sign_in
from portal_core.errors import CodeRejected, DeliveryFailed, InvalidEmail, Throttled

blueprint = portal_blueprint("auth", __name__)

SENT_MESSAGE = ("If that email belongs to a contact of this portal, a 6-digit code is on its way. "
                "It is valid for 10 minutes.")


def _check_portal() -> None:
    _company, g.business = sign_in.open_sign_in_page(portal_services().uow(), g.link_token)


def _flow_state() -> dict[str, str] | None:
    pending = session.get("sign_in")
    if isinstance(pending, dict) and pending.get("token") == g.link_token and pending.get("flow"):
        return pending
    return None


def _flow() -> str:
    """This browser's sign-in flow, started when it first opened the sign-in page: every request that carries the
    form cookie belongs to it (parallel ones too), and only it can use the codes it asked for."""
    state = _flow_state()
    if state is not None:
        return str(state["flow"])
    flow = sign_in.new_flow(portal_services().randomness)
    session["sign_in"] = {"token": g.link_token, "flow": flow, "email": ""}
    return flow


def _pending_email() -> str | None:
    state = _flow_state()
    return (str(state.get("email") or "") or None) if state is not None else None


def _refused(exc: Throttled, template: str, status: int = 429, **context: object) -> ResponseReturnValue:
    log_refusal("throttled " + exc.limit)
    metrics.sign_in_throttled(exc.limit)
    return render_template(template, error=str(exc), **context), status


@blueprint.get("/login")
def login() -> ResponseReturnValue:
    _check_portal()
    _flow()
    return render_template("auth/login.html", email=_pending_email() or "", error=None)


@blueprint.post("/login")
def request_code() -> ResponseReturnValue:
    services = portal_services()
    email = request.form.get("email", "")
    flow = _flow()
    try:
        queued = sign_in.request_sign_in_code(
            services.uow(), clock=services.clock, randomness=services.randomness, templates=services.templates,
            secrets=services.sign_in_secrets, policy=services.sign_in_policy, link_token=g.link_token, email=email,
            ip=client_ip(), flow=flow, language=reader_language())
    except InvalidEmail as exc:
        return render_template("auth/login.html", email=email, error=str(exc)), 400
    except Throttled as exc:
        return _refused(exc, "auth/login.html", email=email)
    # The answer never waits for the relay, and is the same for unknown emails. A code's request emits no webhook
    # event: only the mail loop is woken.
    mail().nudge([queued], webhooks=False)
    metrics.sign_in_code_requested(queued)
    session["sign_in"] = {"token": g.link_token, "flow": flow, "email": email.strip()}
    return redirect(url_for("auth.verify_form"), 303)


@blueprint.get("/verify")
def verify_form() -> ResponseReturnValue:
    _check_portal()
    email = _pending_email()
    if email is None:
        return redirect(url_for("auth.login"), 303)
    return render_template("auth/verify.html", email=email, message=SENT_MESSAGE, error=None)


@blueprint.post("/verify")
def verify() -> ResponseReturnValue:
    services = portal_services()
    email = _pending_email()
    if email is None:
        _check_portal()
        return redirect(url_for("auth.login"), 303)
    try:
        cookie, _session = sign_in.verify_code(
            services.uow(), clock=services.clock, randomness=services.randomness, secrets=services.sign_in_secrets,
            policy=services.sign_in_policy, link_token=g.link_token, email=email,
            code=request.form.get("code", ""), ip=client_ip(), flow=_flow())
    except Throttled as exc:
        return _refused(exc, "auth/verify.html", email=email, message=None)
    except (CodeRejected, DeliveryFailed) as exc:
        return render_template("auth/verify.html", email=email, message=None, error=str(exc)), 400
    # A session this browser held before ends now: one browser, one live session (and no fixation).
    sign_in.sign_out(services.uow(), clock=services.clock, randomness=services.randomness,
                     cookie=request.cookies.get(session_cookie_name()), ip=client_ip())
    session.clear()  # nothing from before sign-in survives it, the flow included; the CSRF token is renewed too
    response = make_response(redirect(url_for("pages.home"), 303))
    settings = services.settings
    response.set_cookie(session_cookie_name(), cookie, httponly=True, samesite="Lax", secure=settings.is_https,
                        path="/", max_age=int(services.sign_in_policy.absolute_lifetime.total_seconds()))
    return response


@blueprint.post("/logout")
def logout() -> ResponseReturnValue:
    services = portal_services()
    sign_in.sign_out(services.uow(), clock=services.clock, randomness=services.randomness,
                     cookie=request.cookies.get(session_cookie_name()), ip=client_ip())
    response = make_response(redirect(url_for("auth.login"), 303))
    response.delete_cookie(session_cookie_name(), path="/", secure=services.settings.is_https, samesite="Lax")
    return response
