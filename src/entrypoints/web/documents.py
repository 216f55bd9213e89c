"""Invoice and quote PDFs and the statement of account (page and PDF), through the core's printing use cases."""

from __future__ import annotations

from flask import Response, render_template
from flask.typing import ResponseReturnValue

from entrypoints.web.files import content_disposition
from entrypoints.web.i18n import current_language
from entrypoints.web.portal import portal_blueprint, signed_in, viewer
from entrypoints.web.refusals import client_ip
from entrypoints.web.services import portal_services
from portal_core import printing

blueprint = portal_blueprint("documents", __name__)


def _pdf(document: printing.RenderedDocument) -> ResponseReturnValue:
    response = Response(document.content, mimetype=document.content_type)
    response.headers["Content-Disposition"] = content_disposition(document.filename, inline=False)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.cache_control.private = True
    response.cache_control.no_store = True  # the account as it is now: never a stale copy from a cache
    return response


@blueprint.get("/invoices/<invoice_id>/pdf")
@signed_in
def invoice_pdf(invoice_id: str) -> ResponseReturnValue:
    services = portal_services()
    return _pdf(printing.invoice_pdf(services.uow(), renderer=services.documents, clock=services.clock,
                                     randomness=services.randomness, viewer=viewer(), invoice_id=invoice_id,
                                     ip=client_ip(), language=current_language()))


@blueprint.get("/quotes/<quote_id>/pdf")
@signed_in
def quote_pdf(quote_id: str) -> ResponseReturnValue:
    services = portal_services()
    return _pdf(printing.quote_pdf(services.uow(), renderer=services.documents, clock=services.clock,
                                   randomness=services.randomness, viewer=viewer(), quote_id=quote_id,
                                   ip=client_ip(), language=current_language()))


@blueprint.get("/statement")
@signed_in
def statement() -> ResponseReturnValue:
    services = portal_services()
    account = printing.statement(services.uow(), viewer(), today=services.clock.now().date())
    return render_template("documents/statement.html", statement=account)


@blueprint.get("/statement/pdf")
@signed_in
def statement_pdf() -> ResponseReturnValue:
    services = portal_services()
    return _pdf(printing.statement_pdf(services.uow(), renderer=services.documents, clock=services.clock,
                                       randomness=services.randomness, viewer=viewer(), ip=client_ip(),
                                       language=current_language()))
