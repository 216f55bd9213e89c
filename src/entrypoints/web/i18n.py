"""Languages on the web: Flask-Babel's locale for each request, `<html lang dir>`, and the language switcher.

The reader's language (portal_core.languages.choose): the signed-in contact's saved choice; before sign-in (or
while a contact has chosen none) the choice kept in the form cookie; else the browser's Accept-Language among the
languages we speak; else the business's default.
"""

from __future__ import annotations

import functools
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from babel import Locale
from babel.numbers import NumberPattern, parse_pattern
from flask import Flask, g, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import Babel, get_translations
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from entrypoints.web.portal import business, portal_blueprint, session_cookie_name
from entrypoints.web.services import portal_services
from portal_core import companies, languages
from portal_core.browsing import open_page
from portal_core.errors import InvalidInput, NotSignedIn, PortalError
from portal_core.model.money import Money, exponent

TRANSLATIONS = Path(__file__).parent / "translations"
COOKIE_KEY = "language"  # in the form cookie (Flask's session), before sign-in

blueprint = portal_blueprint("language", __name__)


def current_language() -> str:
    # Every amount, date and label of a page asks: one look through Flask's context-local proxy, not three.
    request_globals = g._get_current_object()
    language: str | None = getattr(request_globals, "language", None)
    if language is None:
        found = business()
        language = request_globals.language = languages.choose(
            _reader_choice(), _browser_preferences(),
            found.default_language if found is not None else languages.DEFAULT)
    return language


def reader_language() -> str | None:
    """The language this reader chose (saved, or the form cookie's) or their browser prefers among ours; None when
    only the business's default would decide. For a use case that reads the business anyway (a sign-in code's
    mail): current_language() would read it a second time, in a transaction of its own."""
    return languages.chosen(_reader_choice(), _browser_preferences())


def _reader_choice() -> str | None:
    viewer = g.get("viewer")
    saved = viewer.contact.language if viewer is not None else None
    return saved or session.get(COOKIE_KEY)


def _browser_preferences() -> list[str]:
    return [tag for tag, _quality in request.accept_languages] if request else []


def format_money(value: Money) -> str:
    """An amount in the reader's language by Babel, with the currency's own decimals (KWD 3, JPY 0), never rounded.
    English writes the ISO code first, "AED 1,620.00" (what clients' accounts systems and the CRM's own documents
    show, and what the PDFs print); other languages use their locale's pattern ("1,620.00 د.إ." in Arabic)."""
    language = current_language()
    if language == languages.DEFAULT:
        return value.grouped_text()  # Babel's "¤¤ #,##0.00" in English, without parsing a pattern per amount
    pattern, locale = _currency_pattern(language, value.currency)
    return str(pattern.apply(Decimal(value.minor).scaleb(-exponent(value.currency)), locale,
                             currency=value.currency, currency_digits=False))


@functools.lru_cache(maxsize=512)
def _currency_pattern(language: str, currency: str) -> tuple[NumberPattern, Locale]:
    """The locale's currency pattern with the currency's own number of decimals, parsed once per language and
    currency (a page prints dozens of amounts)."""
    digits = exponent(currency)
    decimals = "0" + ("." + "0" * digits if digits else "")
    locale = Locale.parse(language)
    return parse_pattern(locale.currency_formats["standard"].pattern.replace("0.00", decimals)), locale


def _bound_gettext(translations: Any) -> dict[str, Any]:
    """`_()`, `gettext()` and `ngettext()` for one rendering, bound to the request's catalog. They behave as
    Jinja's newstyle gettext does under autoescape (every web template is autoescaped: install_languages): the
    message is markup, its %-variables are escaped. Flask-Babel's own (the globals these shadow) look the catalog
    up again through Flask's context locals for every message, and being context functions, each call inside a
    loop or block made Jinja derive a new template context, twice with the `_` alias: a few hundred times a page."""
    lookup, plural = translations.ugettext, translations.ungettext

    def gettext(string: str, /, **variables: Any) -> Markup:
        return _message(lookup(string), variables)

    def ngettext(singular: str, plural_: str, number: int, /, **variables: Any) -> Markup:
        variables.setdefault("num", number)
        return Markup(plural(singular, plural_, number)) % variables

    return {"_": gettext, "gettext": gettext, "ngettext": ngettext}


def _message(translated: str, variables: dict[str, Any]) -> Markup:
    text = Markup(translated)
    return text % variables if variables or "%" in text else text  # most messages have no variables


def markup_gettext(string: str, /, **variables: Any) -> Markup:
    """The templates' `_()` for the Python that builds a list row's pieces (pages.invoice_status, payments.pay_now):
    the request's translation as markup, its %-variables escaped."""
    return _message(get_translations().ugettext(string), variables)


def _finalize(value: Any) -> Any:
    """Every {{ amount }} a template prints is formatted for the reader (Jinja's finalize hook)."""
    return format_money(value) if isinstance(value, Money) else value


def install_languages(app: Flask) -> None:
    Babel(app, locale_selector=current_language, default_translation_directories=str(TRANSLATIONS))
    app.jinja_env.autoescape = True  # every template the web renders is HTML; _bound_gettext relies on it
    app.jinja_env.finalize = _finalize
    app.jinja_env.filters["money"] = format_money

    @app.context_processor
    def _language() -> dict[str, Any]:
        language = current_language()
        return {"html_lang": language, "html_dir": languages.direction(language),
                "other_languages": [code for code in languages.SUPPORTED if code != language],
                "language_names": {"en": "English", "ar": "العربية"},
                **_bound_gettext(get_translations())}

    @app.before_request
    def _portal_of_unknown_paths() -> None:
        # A path under /p/<token>/ that no route serves (a 404 page) still belongs to that portal: its error page
        # gets the switcher too.
        if "link_token" not in g and request.path.startswith("/p/"):
            token = request.path.split("/")[2]
            if token:
                g.link_token = token

    app.register_blueprint(blueprint)


def _back_to(token: str) -> str:
    """The page the switcher was on: the form's `next` (a path), else the path of a Referer from this host; only
    paths of this portal, never another site."""
    prefix = f"/p/{token}"
    referer = urlsplit(request.headers.get("Referer", ""))
    candidates = [urlsplit(request.form.get("next", ""))]
    if referer.netloc == request.host:
        candidates.append(referer._replace(scheme="", netloc=""))
    for parts in candidates:
        if (not parts.scheme and not parts.netloc and "\\" not in parts.path and "//" not in parts.path
                and (parts.path == prefix or parts.path.startswith(prefix + "/"))):
            return parts.path + (f"?{parts.query}" if parts.query else "")
    return url_for("pages.home")


@blueprint.post("/language")
def choose_language() -> ResponseReturnValue:
    try:
        chosen = languages.parse_language(request.form.get("language", ""))
    except InvalidInput:
        message = _l("That language is not one the portal speaks (English or Arabic).")
        return render_template("error.html", status=400, message=message), 400
    services = portal_services()
    session[COOKIE_KEY] = chosen
    try:
        context = open_page(services.uow(), reader=services.reader(), clock=services.clock,
                            policy=services.sign_in_policy,
                            link_token=g.link_token, cookie=request.cookies.get(session_cookie_name()))
    except (NotSignedIn, PortalError):  # not signed in, or a link that opens nothing: the cookie keeps the choice
        context = None
    if context is not None:
        companies.set_contact_language(services.uow(), contact_id=context.viewer.contact.id, language=chosen)
    return redirect(_back_to(g.link_token), 303)
