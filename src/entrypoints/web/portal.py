"""What every portal page shares: its blueprint under /p/<token>, the signed-in viewer (access re-checked on every
request), the business's branding, the session cookie's name, and the ?page= of a list."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, g, redirect, request, url_for
from flask.typing import ResponseReturnValue

from entrypoints.web.refusals import log_refusal
from entrypoints.web.services import portal_services
from portal_core.branding import business_profile
from portal_core.browsing import open_page
from portal_core.errors import DatabaseUnavailable, NotSignedIn
from portal_core.model.business import Business
from portal_core.paging import page_number
from portal_core.sign_in import Viewer

F = TypeVar("F", bound=Callable[..., ResponseReturnValue])
R = TypeVar("R")


def session_cookie_name() -> str:
    return "__Host-portal_session" if portal_services().settings.is_https else "portal_session"


def portal_blueprint(name: str, import_name: str) -> Blueprint:
    """A blueprint whose routes live under a company's portal link; views read the token from g.link_token."""
    blueprint = Blueprint(name, import_name, url_prefix="/p/<token>")

    @blueprint.url_value_preprocessor
    def _pop_token(_endpoint: str | None, values: dict[str, Any] | None) -> None:
        g.link_token = (values or {}).pop("token", "")

    @blueprint.url_defaults
    def _add_token(_endpoint: str, values: dict[str, Any]) -> None:
        if "token" not in values and getattr(g, "link_token", None):
            values["token"] = g.link_token

    @blueprint.context_processor
    def _branding() -> dict[str, Any]:
        return {"viewer": getattr(g, "viewer", None), "business": business()}

    return blueprint


def per_request(name: str, make: Callable[[], R]) -> R:
    """What make() returns, made once per request and kept on Flask's `g` under `name`."""
    request_globals = g._get_current_object()  # one look through the proxy
    found: R | None = getattr(request_globals, name, None)
    if found is None:
        found = make()
        setattr(request_globals, name, found)
    return found


def business() -> Business | None:
    request_globals = g._get_current_object()  # one look through the proxy
    try:
        return request_globals.business  # type: ignore[no-any-return]
    except AttributeError:
        pass
    try:
        found = business_profile(portal_services().reader())
    except DatabaseUnavailable:
        # Reached from the 503 page itself when the database is gone: it renders unbranded rather than fail
        # a second time (a 500 with a traceback instead of "try again in a minute").
        found = None
    request_globals.business = found
    return found


def signed_in(view: F) -> F:
    """Loads the viewer (access re-checked on every request) or sends the client to the sign-in page."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> ResponseReturnValue:
        services = portal_services()
        try:
            # One read for the viewer, the branding and the payment providers, without a transaction (a write only
            # when the session's last-seen time is due): a page costs a fixed, small number of statements
            # (tests/integration/test_statement_counts.py).
            context = open_page(services.uow(), reader=services.reader(), clock=services.clock,
                                policy=services.sign_in_policy,
                                link_token=g.link_token, cookie=request.cookies.get(session_cookie_name()))
        except NotSignedIn:
            if request.cookies.get(session_cookie_name()):
                log_refusal("ended session")
            return redirect(url_for("auth.login"), 303)
        g.viewer, g.business, g.payment_providers = context.viewer, context.business, context.payment_providers
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def viewer() -> Viewer:
    return g.viewer  # type: ignore[no-any-return]


def requested_page() -> int:
    """The page of a list the client asked for (?page=), page 1 for anything that is not a page number."""
    return page_number(request.args.get("page", "1"))
