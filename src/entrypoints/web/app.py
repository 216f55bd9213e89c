"""The app factory: services in app.extensions, blueprints, CSRF, security headers, and one table of error pages."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, abort, g, render_template, request
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from entrypoints.bootstrap import Services, services_for
from entrypoints.mail_dispatcher import Dispatcher
from entrypoints.settings import Settings
from entrypoints.web import api, auth, client_requests, documents, files, ops, pages, payments
from entrypoints.web.i18n import install_languages
from entrypoints.web.metrics import install_metrics
from entrypoints.web.refusals import log_refusal
from entrypoints.web.services import MAIL, SERVICES, portal_services
from portal_core import errors

log = logging.getLogger("portal.web")

# One table: each error class of the core is one HTTP status and one message for the person who hit it.
ERROR_STATUS: list[tuple[type[Exception], int, Any]] = [
    (errors.NotFound, 404, _l("We could not find that page.")),
    (errors.Throttled, 429, _l("Too many requests. Please wait a few minutes and try again.")),
    (errors.InvalidInput, 400, _l("Something in the request was not right.")),
    (errors.Conflict, 409, _l("That changed while you were working. Please reload the page and try again.")),
    (errors.DatabaseUnavailable, 503, _l("The portal is briefly unavailable. Please try again in a minute.")),
    (errors.StorageError, 503, _l("That file is unavailable right now. Please try again later.")),
    (errors.PaymentError, 502, _l("The payment provider could not be reached. Nothing was charged; please try later.")),
    (errors.DeliveryFailed, 503, _l("We could not send email just now. Please try again in a few minutes.")),
    (errors.PortalError, 400, _l("Something in the request was not right.")),
]

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'")


def _security_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    settings: Settings = portal_services().settings
    if settings.is_https:
        response.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    if getattr(g, "viewer", None) is not None or request.path.startswith("/p/"):
        # A view that chose "private, no-cache" (file downloads: revalidated by ETag, answered 304) keeps it.
        if not request.path.startswith("/static/") and not response.cache_control.private:
            response.headers["Cache-Control"] = "no-store"
    return response


def _refuse_nul_bytes() -> None:
    """No id, link, email or text of the portal holds a NUL byte, and PostgreSQL refuses one in any text parameter
    (a driver error, so a 500): a path holding one names nothing (404), a form holding one is malformed (400).
    The query string only ever carries ?page=, read as a number. Provider webhooks are left alone: their bodies are
    read raw and verified as sent; the API checks its own bodies (after its key, with its own size limits)."""
    if "\x00" in request.path:
        abort(404)
    if (request.method != "POST" or request.blueprint in ("payment_webhooks", "api")
            or request.mimetype not in ("application/x-www-form-urlencoded", "multipart/form-data")):
        return
    if any("\x00" in key or "\x00" in value for key, value in request.form.items(multi=True)):
        abort(400)


def _log_refusal(exc: errors.PortalError) -> None:
    if isinstance(exc, errors.PortalUnavailable):
        log_refusal("unknown link")
    elif isinstance(exc, errors.NotFound):
        log_refusal("not found")
    elif isinstance(exc, errors.Throttled):
        log_refusal("throttled " + exc.limit)


def _error_page(status: int, message: Any) -> tuple[str, int]:
    return render_template("error.html", status=status, message=message), status


def _register_errors(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_failed(exc: CSRFError) -> tuple[str, int]:
        return _error_page(400, _l("This form has expired or was not sent from the portal. Please go back, reload "
                                   "the page and try again."))

    @app.errorhandler(errors.PortalError)
    def portal_error(exc: errors.PortalError) -> tuple[str, int]:
        if isinstance(exc, errors.DatabaseUnavailable):
            g.setdefault("business", None)  # the page renders unbranded: no second wait for a vanished database
        _log_refusal(exc)
        for kind, status, message in ERROR_STATUS:
            if isinstance(exc, kind):
                if status >= 500:
                    log.warning("%s on %s %s", type(exc).__name__, request.method, request.endpoint)
                return _error_page(status, message)
        return _error_page(400, _l("Something in the request was not right."))  # pragma: no cover

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        if exc.code in (301, 302, 303, 307, 308):
            return exc
        if request.path.startswith("/api/"):  # no route, no such method, too large: the API answers in JSON
            return api.http_error(exc)
        messages = {404: _l("We could not find that page."), 405: _l("That action is not allowed here."),
                    400: _l("Something in the request was not right.")}
        page, status = _error_page(exc.code or 500, messages.get(exc.code or 500, exc.description or "Error"))
        response = app.make_response((page, status))
        if exc.code == 405 and hasattr(exc, "valid_methods") and exc.valid_methods:
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> tuple[str, int]:
        log.exception("unexpected error on %s %s", request.method, request.endpoint)
        return _error_page(500, _l("Something went wrong on our side. Please try again."))


def create_app(settings: Settings | None = None, *, services: Services | None = None,
               synchronous_mail: bool = False) -> Flask:
    settings = settings or (services.settings if services else Settings.from_env())
    services = services or services_for(settings)
    secret = settings.require_secret()
    app = Flask(__name__, static_folder="static", template_folder="templates")
    app.config.update(
        SECRET_KEY=secret,
        SESSION_COOKIE_NAME="__Host-portal_form" if settings.is_https else "portal_form",
        SESSION_COOKIE_SECURE=settings.is_https,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_PATH="/",
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the form cookie; no stale-form surprises
        SEND_FILE_MAX_AGE_DEFAULT=3600,
        MAX_CONTENT_LENGTH=1 << 20,
    )
    if settings.trusted_proxies:
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n)  # type: ignore[method-assign]
    app.extensions[SERVICES] = services
    # Every process that serves pages also sends the mail they queue (and whatever else is due).
    app.extensions[MAIL] = Dispatcher(services, synchronous=synchronous_mail).start()
    csrf = CSRFProtect(app)

    app.register_blueprint(ops.blueprint)
    app.register_blueprint(auth.blueprint)
    app.register_blueprint(pages.blueprint)
    app.register_blueprint(files.blueprint)
    app.register_blueprint(documents.blueprint)
    app.register_blueprint(client_requests.blueprint)
    app.register_blueprint(payments.blueprint)
    app.register_blueprint(payments.webhooks)
    app.register_blueprint(api.blueprint)
    install_languages(app)
    csrf.exempt(payments.webhooks)  # providers sign their calls; they cannot carry our CSRF token
    csrf.exempt(api.blueprint)  # keys, not cookies: a browser's ambient credentials never reach the API
    install_metrics(app, uow=services.uow, token=settings.metrics_token)  # first hook: every answer is counted

    app.before_request(_refuse_nul_bytes)
    app.after_request(_security_headers)
    _register_errors(app)
    return app
