"""The portal's pages: home and every section, read through the core's browsing use cases."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from typing import Any
from urllib.parse import quote as url_quote

from babel.dates import format_date as babel_format_date
from babel.units import format_unit
from flask import current_app, g, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import force_locale, get_translations
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from werkzeug.routing import BuildError

from entrypoints.web.i18n import current_language, markup_gettext
from entrypoints.web.portal import portal_blueprint, requested_page, signed_in, viewer
from entrypoints.web.services import portal_services
from portal_core import browsing
from portal_core.model.money import quantity_text
from portal_core.ports import UnitOfWork

blueprint = portal_blueprint("pages", __name__)

# Every section, in the order the help article lists them. Requests and Files come from their own blueprint;
# until it is registered their entries are left out rather than breaking every page.
NAV_ITEMS = [
    ("pages.home", _l("Home")),
    ("client_requests.index", _l("Requests")),
    ("pages.quotes", _l("Quotes")),
    ("pages.invoices", _l("Invoices")),
    ("pages.tasks", _l("Tasks")),
    ("pages.projects", _l("Projects")),
    ("pages.jobs", _l("Jobs")),
    ("files.index", _l("Files")),
    ("pages.products", _l("Products/Services")),
    ("pages.about", _l("About Us")),
    ("pages.contact", _l("Contact")),
]
# Detail pages light up their section in the navigation.
_SECTION_OF = {"pages.quote": "pages.quotes", "pages.invoice": "pages.invoices", "pages.project": "pages.projects",
               "pages.job": "pages.jobs", "documents.statement": "pages.invoices"}


def endpoint_exists(endpoint: str) -> bool:
    return endpoint in current_app.view_functions


def _current_section() -> str | None:
    endpoint = request.endpoint or ""
    if endpoint in _SECTION_OF:
        return _SECTION_OF[endpoint]
    if request.blueprint and request.blueprint != "pages" and endpoint_exists(f"{request.blueprint}.index"):
        return f"{request.blueprint}.index"
    return endpoint


@blueprint.app_context_processor
def _navigation() -> dict[str, Any]:
    # App-wide, so the other portal blueprints' pages and the error pages carry the same navigation.
    return {"nav_items": _nav_links(request.script_root, g.get("link_token") or "", current_language()),
            "nav_current": _current_section()}


_NAV_CACHE_SIZE = 1024  # portal links and languages whose navigation an app keeps built


def _nav_links(script_root: str, link_token: str, language: str) -> tuple[tuple[str, str, str], ...]:
    """(endpoint, link, name) of the sections this app serves, for one portal link and language: the same dozen
    links on every page, built by the router and translated once (they depend on nothing else), kept on the app."""
    cache: dict[tuple[str, str, str], tuple[tuple[str, str, str], ...]] = current_app.extensions.setdefault(
        "portal.nav_links", {})
    key = (script_root, link_token, language)
    found = cache.get(key)
    if found is None:
        with force_locale(language):
            labels = [str(label) for _endpoint, label in NAV_ITEMS]
        if len(cache) >= _NAV_CACHE_SIZE:
            cache.clear()
        found = cache[key] = tuple(
            (endpoint, url_for(endpoint) if link_token else "", label)
            for (endpoint, _lazy), label in zip(NAV_ITEMS, labels, strict=True) if endpoint_exists(endpoint))
    return found


@blueprint.app_template_global()
def file_url(endpoint: str, file: Any) -> str | None:
    """The link to a file's view or download route, or None while that route does not exist."""
    if not endpoint_exists(endpoint):
        return None
    try:
        return url_for(endpoint, file_id=file.id)
    except BuildError:
        return None


blueprint.add_app_template_global(endpoint_exists, "endpoint_exists")

# What werkzeug's default converter leaves unescaped in a path segment (werkzeug.routing.converters.BaseConverter).
_PATH_SAFE = "!$&'()*+,/:;=@"
_MARKER = "\x01"  # escaped as %01; a "%" elsewhere in the URL is escaped as %25; the id is its last part


@blueprint.app_template_global()
def url_of_each(endpoint: str, key: str) -> Callable[[object], str]:
    """url_for(endpoint, key=value) for each row of a list, with the URL built by the router once per list: the
    rows' links differ only in their id (tests/integration/test_web_urls.py compares it with url_for)."""
    head, marker, tail = url_for(endpoint, **{key: _MARKER}).rpartition(url_quote(_MARKER))  # type: ignore[arg-type]
    if not marker:  # a route whose converter does not escape the marker: build each link
        return lambda value: url_for(endpoint, **{key: value})  # type: ignore[arg-type]
    return lambda value: head + url_quote(str(value), safe=_PATH_SAFE) + tail


@blueprint.app_template_filter("date")
def format_date(value: dt.date | dt.datetime | None) -> str:
    """31 Oct 2026 (day, short month, year) in the reader's language, by Babel: 31 أكتوبر 2026 in Arabic."""
    if value is None:
        return "—"
    return _date_text(value.date() if isinstance(value, dt.datetime) else value, current_language())


@functools.lru_cache(maxsize=4096)
def _date_text(value: dt.date, language: str) -> str:
    # A list prints the same few dates again and again; Babel formats each (language, date) once per process.
    return str(babel_format_date(value, "d MMM y", locale=language))


@blueprint.app_template_filter("label")
def format_label(value: object) -> str:
    """partially_paid -> Partially paid, in the reader's language (entrypoints/web/messages.py lists them)."""
    return _label_text(str(getattr(value, "value", value)), current_language())


# A list calls these once a row: as Python they cost a tenth of a Jinja macro call (about 30 microseconds each, which
# on the invoice list was a sixth of the page; issue 14), and each badge is built once per language and status.
# pages/_macros.html documents what they render.


@blueprint.app_template_global()
def invoice_status(view: Any) -> Markup:
    """An invoice's status: Overdue (marked) when it is, else its status's label."""
    language = current_language()
    if view.overdue:
        return _badge("status overdue", "Overdue", language)
    return _label_badge(str(view.invoice.status.value), language)


@blueprint.app_template_global()
def quote_status(view: Any) -> Markup:
    """A quote's status: Expired, Expires soon (marked), else its status's label."""
    language = current_language()
    if view.lapsed:
        return _badge("status", "Expired", language)
    if view.expires_soon:
        return _badge("status soon", "Expires soon", language)
    return _label_badge(str(view.quote.status.value), language)


@functools.lru_cache(maxsize=256)
def _badge(classes: str, message: str, language: str) -> Markup:
    # language: the request's (markup_gettext translates into it); a key of the cache.
    return Markup('<span class="{}">{}</span>').format(classes, markup_gettext(message))


@functools.lru_cache(maxsize=256)
def _label_badge(status: str, language: str) -> Markup:
    return Markup('<span class="status">{}</span>').format(_label_text(status, language))


@functools.lru_cache(maxsize=1024)
def _label_text(value: str, language: str) -> str:
    text = value.replace("_", " ")
    return str(get_translations().upgettext("status", text[:1].upper() + text[1:]))


blueprint.add_app_template_filter(quantity_text, "quantity")  # a line's quantity without trailing zeros: 3, 1.5


@blueprint.app_template_filter("filesize")
def format_filesize(size: int) -> str:
    """52 bytes, 1.5 kB, 12.3 MB (decimal units, like the browser's downloads) in the reader's language, by Babel."""
    return _filesize_text(size, current_language())


@functools.lru_cache(maxsize=4096)
def _filesize_text(size: int, language: str) -> str:
    # Cached per language and size (a file list prints the same sizes on every visit; Babel's unit formatting
    # was a tenth of the page).
    if size < 1000:
        return str(format_unit(size, "digital-byte", length="long", locale=language))
    unit, scale = ("digital-kilobyte", 1000) if size < 1000**2 else ("digital-megabyte", 1000**2)
    return str(format_unit(size / scale, unit, length="short", format="#,##0.#", locale=language))


def _today() -> dt.date:
    return portal_services().clock.now().date()


def _uow() -> UnitOfWork:
    return portal_services().reader()  # every page here only reads


@blueprint.get("/", strict_slashes=False)  # the link as given (no slash) opens the home page, no redirect first
@signed_in
def home() -> ResponseReturnValue:
    summary = browsing.home_summary(_uow(), viewer(), today=_today())
    return render_template("pages/home.html", contact=viewer().contact, summary=summary)


@blueprint.get("/quotes")
@signed_in
def quotes() -> ResponseReturnValue:
    page = browsing.list_quotes(_uow(), viewer(), today=_today(), page=requested_page())
    return render_template("pages/quotes.html", page=page)


@blueprint.get("/quotes/<quote_id>")
@signed_in
def quote(quote_id: str) -> ResponseReturnValue:
    view = browsing.quote_detail(_uow(), viewer(), quote_id, today=_today())
    return render_template("pages/quote.html", view=view)


@blueprint.get("/invoices")
@signed_in
def invoices() -> ResponseReturnValue:
    page = browsing.list_invoices(_uow(), viewer(), today=_today(), page=requested_page())
    return render_template("pages/invoices.html", page=page)


@blueprint.get("/invoices/<invoice_id>")
@signed_in
def invoice(invoice_id: str) -> ResponseReturnValue:
    detail = browsing.invoice_detail(_uow(), viewer(), invoice_id, today=_today())
    return render_template("pages/invoice.html", detail=detail, view=detail.view)


@blueprint.get("/tasks")
@signed_in
def tasks() -> ResponseReturnValue:
    return render_template("pages/tasks.html", page=browsing.list_tasks(_uow(), viewer(), page=requested_page()))


@blueprint.get("/projects")
@signed_in
def projects() -> ResponseReturnValue:
    return render_template("pages/projects.html", page=browsing.list_projects(_uow(), viewer(), page=requested_page()))


@blueprint.get("/projects/<project_id>")
@signed_in
def project(project_id: str) -> ResponseReturnValue:
    return render_template("pages/project.html", detail=browsing.project_detail(_uow(), viewer(), project_id))


@blueprint.get("/jobs")
@signed_in
def jobs() -> ResponseReturnValue:
    return render_template("pages/jobs.html", page=browsing.list_jobs(_uow(), viewer(), page=requested_page()))


@blueprint.get("/jobs/<job_id>")
@signed_in
def job(job_id: str) -> ResponseReturnValue:
    return render_template("pages/job.html", detail=browsing.job_detail(_uow(), viewer(), job_id))


@blueprint.get("/products")
@signed_in
def products() -> ResponseReturnValue:
    return render_template("pages/products.html", page=browsing.list_products(_uow(), viewer(), page=requested_page()))


@blueprint.get("/about")
@signed_in
def about() -> ResponseReturnValue:
    return render_template("pages/about.html")


@blueprint.get("/contact")
@signed_in
def contact() -> ResponseReturnValue:
    return render_template("pages/contact.html")
