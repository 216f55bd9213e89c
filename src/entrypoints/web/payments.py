"""Pay Now (the button a list row or an invoice shows, and its route), the return pages from the providers, and
Stripe's webhook."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup

from entrypoints.web.i18n import format_money, markup_gettext
from entrypoints.web.pages import url_of_each
from entrypoints.web.portal import business, per_request, portal_blueprint, signed_in, viewer
from entrypoints.web.refusals import client_ip
from entrypoints.web.services import mail, portal_services
from portal_core import ledger, payment_providers, payments
from portal_core.errors import InvalidSignature, PaymentError, PaymentNotPossible, PaymentsNotConfigured
from portal_core.model.payment import Provider

blueprint = portal_blueprint("payments", __name__)
# Providers call these: no portal link, no session, no CSRF token (their signature is the proof).
webhooks = Blueprint("payment_webhooks", __name__)


def _send_receipts(receipts: tuple[str, ...]) -> None:
    mail().nudge(receipts)  # queued with the payment they confirm


def _connected() -> tuple[Provider, ...]:
    return per_request("payment_providers",
                       lambda: payment_providers.connected_providers(portal_services().reader()))


@blueprint.app_template_global()
def payment_choice(view: Any) -> payments.PaymentChoice | None:
    """For pay_now: None (no Pay Now), or the providers that can take the invoice's outstanding amount."""
    if not getattr(view, "payable", False):
        return None
    # The invoice list asks three times a row (Pay selected, the row's checkbox, its Pay Now): once per request.
    known: dict[str, payments.PaymentChoice | None] = per_request("payment_choices", dict)
    invoice = view.invoice
    if invoice.id not in known:
        found = business()
        known[invoice.id] = payments.payment_choice(_connected(), invoice, payable=view.payable,
                                                    contact_hint=found.email if found is not None else "")
    return known[invoice.id]


@blueprint.app_template_global()
def pay_url(invoice_id: str) -> str:
    """For pay_now: the invoice's Pay Now action, from a builder made once per request (url_of_each)."""
    return per_request("pay_url", lambda: url_of_each("payments.pay", "invoice_id"))(invoice_id)


@blueprint.app_template_global()
def pay_now(view: Any, in_form: bool = False) -> Markup:
    """An invoice's Pay Now, given its InvoiceView (view.invoice, view.overdue, view.payable): nothing unless a
    payment provider is connected and the invoice is payable; offers only the providers that can take the
    outstanding amount exactly (payment_choice), one button per provider when there is a choice, and says why when
    none can. A form of its own, or (in_form) buttons that post the form they sit in to the invoice's pay route.
    Python rather than a Jinja macro: the lists show one a row (see pages.invoice_status)."""
    choice = payment_choice(view)
    if choice is None:
        return Markup()
    if not choice.providers:
        return Markup('<p class="muted pay-note">{}</p>').format(choice.reason)
    invoice = view.invoice
    action = pay_url(invoice.id)
    detail = markup_gettext("%(amount)s for invoice %(number)s", amount=format_money(invoice.outstanding),
                            number=invoice.number)
    formaction = Markup(' formaction="{}"').format(action) if in_form else Markup()
    if len(choice.providers) == 1:
        buttons = [_BUTTON.format(Markup(), formaction, markup_gettext("Pay Now"), detail)]
    else:
        buttons = [_BUTTON.format(Markup(' name="provider" value="{}"').format(provider.value), formaction,
                                  markup_gettext("Pay Now with %(provider)s", provider=provider_name(provider)),
                                  detail) for provider in choice.providers]
    if in_form:
        return Markup("").join(buttons)
    return _FORM.format(action, generate_csrf(), Markup("").join(buttons))


_BUTTON = Markup('<button type="submit" class="button"{}{}>{}<span class="visually-hidden"> {}</span></button>')
_FORM = Markup('<form method="post" action="{}" class="inline pay-now">'
               '<input type="hidden" name="csrf_token" value="{}">{}</form>')


@blueprint.app_template_global()
def pay_several_providers(views: Any) -> tuple[Provider, ...]:
    """For the invoice list's Pay selected form: the connected providers, when an invoice on the page can be paid
    online (else there is nothing to select)."""
    payable = any((choice := payment_choice(view)) is not None and choice.providers for view in views)
    return _connected() if payable else ()


@blueprint.app_template_filter("provider_name")
def provider_name(provider: Provider) -> str:
    return payment_providers.PROVIDER_NAMES.get(Provider(provider), str(provider))


def _urls(invoice_id: str) -> payments.ReturnUrls:
    # From PORTAL_BASE_URL, not the request's Host header: the provider sends the client where we configured.
    base = portal_services().settings.base_url
    return payments.ReturnUrls(
        success=base + url_for("payments.paid", invoice_id=invoice_id),
        cancel=base + url_for("payments.cancelled", invoice_id=invoice_id),
        declined=base + url_for("payments.cancelled", invoice_id=invoice_id))


@blueprint.post("/invoices/<invoice_id>/pay")
@signed_in
def pay(invoice_id: str) -> ResponseReturnValue:
    services = portal_services()
    try:
        started = payments.start_payment(
            services.uow(), gateways=services.payment_gateways, vault=services.credential_vault,
            clock=services.clock, randomness=services.randomness, templates=services.templates, viewer=viewer(),
            invoice_id=invoice_id, provider=request.form.get("provider") or None, urls=_urls(invoice_id),
            ip=client_ip())
    except PaymentNotPossible as exc:
        return _problem(invoice_id, str(exc), 409)
    except PaymentsNotConfigured:
        raise
    except PaymentError as exc:
        return _problem(invoice_id, str(exc), 502)
    return redirect(started.url, 303)


@blueprint.post("/invoices/pay")
@signed_in
def pay_selected() -> ResponseReturnValue:
    """Pay selected: one hosted page for several invoices of one currency (repeated field `invoice`)."""
    services = portal_services()
    chosen = request.form.getlist("invoice")
    # The return pages are the first invoice's (by id): back there, every open attempt that covers it is checked.
    first = min(chosen) if chosen else ""
    try:
        started = payments.start_payment_of_several(
            services.uow(), gateways=services.payment_gateways, vault=services.credential_vault,
            clock=services.clock, randomness=services.randomness, templates=services.templates, viewer=viewer(),
            invoice_ids=chosen, provider=request.form.get("provider") or None, urls=_urls(first), ip=client_ip())
    except PaymentNotPossible as exc:
        return _problem(None, str(exc), 400)
    except PaymentError as exc:
        return _problem(None, str(exc), 502)
    return redirect(started.url, 303)


def _problem(invoice_id: str | None, message: str, status: int) -> ResponseReturnValue:
    """The payment did not start: why, and the way back (the invoice, or the list for several)."""
    return render_template("payments/problem.html", invoice_id=invoice_id, message=message), status


def _return(invoice_id: str, *, cancelled: bool) -> ResponseReturnValue:
    services = portal_services()
    view = ledger.payment_return(services.uow(), gateways=services.payment_gateways, vault=services.credential_vault,
                                 clock=services.clock, randomness=services.randomness, templates=services.templates,
                                 viewer=viewer(), invoice_id=invoice_id, cancelled=cancelled)
    _send_receipts(view.receipts)
    return render_template("payments/return.html", view=view, states=ledger.ReturnState)


@blueprint.get("/invoices/<invoice_id>/paid")
@signed_in
def paid(invoice_id: str) -> ResponseReturnValue:
    return _return(invoice_id, cancelled=False)


@blueprint.get("/invoices/<invoice_id>/cancelled")
@signed_in
def cancelled(invoice_id: str) -> ResponseReturnValue:
    return _return(invoice_id, cancelled=True)


@webhooks.post("/webhooks/stripe")
def stripe_webhook() -> ResponseReturnValue:
    services = portal_services()
    try:
        done = ledger.handle_webhook(services.uow(), gateways=services.payment_gateways,
                                     vault=services.credential_vault, clock=services.clock,
                                     randomness=services.randomness, templates=services.templates,
                                     provider=Provider.STRIPE, payload=request.get_data(cache=False),
                                     headers=dict(request.headers))
    except InvalidSignature:
        return {"error": "invalid signature"}, 400
    except PaymentsNotConfigured:
        return {"error": "stripe is not connected"}, 404
    _send_receipts(done.receipts)
    return {"received": True, "duplicate": done.duplicate}, 200
