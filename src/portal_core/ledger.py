"""The ledger: confirmed payments applied to invoices, from any of the provider's notices (a webhook, the return
page, reconciliation).

The rule: an invoice's amount paid grows by a payment's amount exactly once, when that payment first moves to
succeeded, under a lock on the invoice row. Every later notice about the same payment (a duplicated webhook, a
reordered event, a return page checking again) finds it settled and changes nothing. A payment whose reported
amount or currency differs from what was asked, that arrives for a void invoice, or that would take the invoice
past its total is recorded for review and never applied.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

import attrs

from portal_core import languages, outbox, policy, records, webhooks
from portal_core.errors import (
    PaymentError,
    PaymentsNotConfigured,
    UnknownRecord,
)
from portal_core.model.documents import CREDITABLE, Invoice, InvoiceStatus
from portal_core.model.mail import PaymentReceiptNotice
from portal_core.model.money import Money
from portal_core.model.outbox import MailPurpose
from portal_core.model.payment import (
    CLOSED_UNPAID,
    MONEY_RECEIVED,
    OutcomeKind,
    Payment,
    PaymentOutcome,
    PaymentStatus,
    Provider,
    closing_status,
)
from portal_core.model.webhook import EventType
from portal_core.payment_providers import PROVIDER_NAMES, Gateways, gateway_for
from portal_core.ports import (
    Clock,
    CredentialVault,
    EmailTemplates,
    Randomness,
    UnitOfWork,
)
from portal_core.sign_in import Viewer

NOT_FOUND = "no such invoice"


def describe(payment: Payment) -> str:
    invoices = ("invoices " if len(payment.allocations) > 1 else "invoice ") + ", ".join(payment.invoice_ids)
    return f"payment {payment.id} of {payment.amount} via {payment.provider.value} for {invoices}"


class ReturnState:
    RECEIVED = "payment received"
    PROCESSING = "payment processing"
    CANCELLED = "payment cancelled"


@attrs.frozen(kw_only=True)
class Confirmation:
    """What one notice did: the payment afterwards, whether it moved money on the invoice, and receipts to send."""

    payment: Payment | None
    applied: bool = False
    duplicate: bool = False
    receipts: tuple[str, ...] = ()  # outbox ids of the queued receipts


@attrs.frozen(kw_only=True)
class ReturnView:
    invoice: Invoice
    state: str
    payment: Payment | None
    problem: str = ""
    receipts: tuple[str, ...] = ()  # outbox ids of the queued receipts


@attrs.frozen(kw_only=True)
class ReconcileReport:
    checked: int = 0
    settled: int = 0
    failed_checks: tuple[str, ...] = ()
    receipts: tuple[str, ...] = ()  # outbox ids of the queued receipts


# ---- the ledger


def _find_payment(uow: UnitOfWork, provider: Provider, outcome: PaymentOutcome) -> Payment | None:
    payment = uow.payments.get_by_provider_ref(provider, outcome.provider_ref)
    if payment is None and outcome.payment_id:
        # The provider echoed our id back (Stripe metadata): a notice that beat the recording of the session id.
        candidate = uow.payments.get(outcome.payment_id)
        if candidate is not None and candidate.provider == provider and candidate.provider_ref in (
                None, outcome.provider_ref):
            payment = candidate
    return payment


def _receipt(uow: UnitOfWork, clock: Clock, randomness: Randomness, templates: EmailTemplates, payment: Payment,
             invoices: Sequence[Invoice]) -> str | None:
    """Queues the receipt in the outbox, in the ledger's transaction: a credited payment always gets one."""
    if payment.contact_id is None:
        return None
    contact = uow.contacts.get(payment.contact_id)
    company = uow.companies.get(payment.company_id)
    business = uow.business.get()
    if contact is None or company is None or business is None or payment.settled_at is None:
        return None
    outstanding = Money(sum(i.outstanding.minor for i in invoices), payment.amount.currency)
    invoices = sorted(invoices, key=lambda i: i.number)
    notice = PaymentReceiptNotice(business=business, company_name=company.name, contact_name=contact.name,
                                  invoice_number=", ".join(i.number for i in invoices), amount=payment.amount,
                                  outstanding=outstanding, paid_at=payment.settled_at,
                                  provider=PROVIDER_NAMES[payment.provider], payment_id=payment.id,
                                  invoice_count=len(invoices),
                                  language=languages.for_reader(contact.language, business.default_language))
    return outbox.enqueue(uow, clock=clock, randomness=randomness, email=templates.render(notice, to=contact.email),
                          purpose=MailPurpose.PAYMENT_RECEIPT, company_id=company.id, contact_id=contact.id,
                          subject_ref=f"payment:{payment.id}")




def apply_outcome(uow: UnitOfWork, *, clock: Clock, randomness: Randomness, templates: EmailTemplates,
                  provider: Provider, outcome: PaymentOutcome, source: str) -> Confirmation:
    """The ledger, inside an open transaction."""
    found = _find_payment(uow, provider, outcome)
    if found is None:
        records.audit(uow, randomness=randomness, clock=clock, action="payment_unknown", company_id=None,
                      detail=f"{provider.value} ref {outcome.provider_ref} ({source}, {outcome.kind.value})")
        return Confirmation(payment=None)
    # Lock the invoices (in id order, as Pay Now does), then read the payment again: whoever held the locks before
    # us may have settled it.
    locked: dict[str, Invoice] = {}
    for invoice_id in sorted(found.invoice_ids):
        invoice = uow.invoices.get_for_update(invoice_id)
        if invoice is None:  # pragma: no cover - invoices are never deleted
            raise UnknownRecord(NOT_FOUND)
        locked[invoice_id] = invoice
    payment = uow.payments.get(found.id)
    if payment is None:  # pragma: no cover - payments are never deleted
        raise UnknownRecord(NOT_FOUND)
    invoices = [locked[a.invoice_id] for a in payment.allocations]
    now = clock.now()
    company_id, contact_id = payment.company_id, payment.contact_id

    def audit(action: str, detail: str = "") -> None:
        records.audit(uow, randomness=randomness, clock=clock, action=action, company_id=company_id,
                      contact_id=contact_id, detail=f"{describe(payment)} ({source}){': ' + detail if detail else ''}")

    if payment.provider_ref is None:
        payment.provider_ref = outcome.provider_ref
    if payment.status in MONEY_RECEIVED:
        if outcome.kind != OutcomeKind.PENDING:
            audit("payment_notice_ignored", f"already {payment.status.value}, told {outcome.kind.value}")
        return Confirmation(payment=payment, duplicate=True)
    if outcome.kind == OutcomeKind.PENDING:
        uow.payments.update(payment)
        return Confirmation(payment=payment)
    closing = closing_status(outcome.kind)
    if closing is not None:
        if payment.status in CLOSED_UNPAID:
            return Confirmation(payment=payment, duplicate=True)
        payment.close(closing, now, note=outcome.detail)
        uow.payments.update(payment)
        audit(f"payment_{closing.value}", outcome.detail)
        return Confirmation(payment=payment)
    # Paid. A payment closed as cancelled or expired may still be paid (the provider's word on money wins).
    payment.received_minor, payment.received_currency = outcome.paid_minor, outcome.paid_currency
    if outcome.paid_minor != payment.amount.minor or (outcome.paid_currency or "").upper() != payment.amount.currency:
        reported = f"{outcome.paid_currency} {outcome.paid_minor} (minor units)"
        payment.close(PaymentStatus.MISMATCH, now, note=f"provider reported {reported}, expected {payment.amount}")
        uow.payments.update(payment)
        audit("payment_mismatch", payment.note)
        return Confirmation(payment=payment)
    # All or nothing: a payment of several invoices is applied to every one of them, or held for review whole.
    refused = [i for i in invoices if i.status not in CREDITABLE]
    if refused:
        payment.close(PaymentStatus.MISMATCH, now, note="; ".join(
            f"invoice {i.number} is {i.status.value}" for i in refused) + ": not applied")
        uow.payments.update(payment)
        audit("payment_refused", payment.note)
        return Confirmation(payment=payment)
    shares = [(invoice, a.amount) for invoice, a in zip(invoices, payment.allocations, strict=True)]
    too_much = [invoice for invoice, share in shares if invoice.amount_paid + share > invoice.total]
    if too_much:
        payment.close(PaymentStatus.OVERPAID, now, note="would take the amount paid past the total of " + ", ".join(
            f"invoice {i.number} ({i.total})" for i in too_much) + ": not applied")
        uow.payments.update(payment)
        audit("payment_overpaid", payment.note)
        return Confirmation(payment=payment)
    for invoice, share in shares:
        invoice.apply_payment(share)
        uow.invoices.update(invoice)
    payment.close(PaymentStatus.SUCCEEDED, now)
    uow.payments.update(payment)
    audit("payment_succeeded", "; ".join(f"invoice {i.number} now {i.status.value}, paid {i.amount_paid}"
                                         for i, _ in shares))
    for invoice, share in shares:
        paid = invoice.status == InvoiceStatus.PAID
        webhooks.emit(uow, clock=clock, randomness=randomness,
                      event=EventType.INVOICE_PAID if paid else EventType.INVOICE_PARTIALLY_PAID, data={
                          "invoice": invoice.ref, "number": invoice.number, "currency": share.currency,
                          "amount": share.decimal_string(), "amount_paid": invoice.amount_paid.decimal_string(),
                          "total": invoice.total.decimal_string(), "provider": payment.provider.value,
                          "provider_reference": payment.provider_ref, "paid_at": now.isoformat()})
    receipt = _receipt(uow, clock, randomness, templates, payment, [i for i, _ in shares])
    return Confirmation(payment=payment, applied=True, receipts=(receipt,) if receipt else ())


def confirm_payment(uow: UnitOfWork, *, clock: Clock, randomness: Randomness, templates: EmailTemplates,
                    provider: Provider, outcome: PaymentOutcome, source: str) -> Confirmation:
    """Applies what a provider says about an attempt, once. Safe to call again with the same or an older notice."""
    with uow:
        confirmation = apply_outcome(uow, clock=clock, randomness=randomness, templates=templates,
                                     provider=Provider(provider), outcome=outcome, source=source)
        uow.commit()
    return confirmation


def handle_webhook(uow: UnitOfWork, *, gateways: Gateways, vault: CredentialVault, clock: Clock,
                   randomness: Randomness, templates: EmailTemplates, provider: Provider, payload: bytes,
                   headers: Mapping[str, str]) -> Confirmation:
    """A provider's push notification: verified, processed once per event id, applied by the ledger.

    Raises PaymentsNotConfigured (the provider is not connected) and InvalidSignature (nothing is changed).
    """
    provider = Provider(provider)
    with uow:
        gateway = gateway_for(uow, gateways=gateways, vault=vault, provider=provider)
    event = gateway.parse_webhook(payload, headers)
    with uow:
        # Recorded in the same transaction as its effect: if applying fails, the provider's retry is processed.
        if not uow.processed_events.record(provider, event.event_id, clock.now()):
            return Confirmation(payment=None, duplicate=True)
        if event.outcome is None:
            uow.commit()
            return Confirmation(payment=None)
        confirmation = apply_outcome(uow, clock=clock, randomness=randomness, templates=templates,
                                     provider=provider, outcome=event.outcome,
                                     source=f"webhook {event.event_type} {event.event_id}")
        uow.commit()
    return confirmation


def _check(uow: UnitOfWork, *, gateways: Gateways, vault: CredentialVault, clock: Clock, randomness: Randomness,
           templates: EmailTemplates, payment: Payment, source: str) -> Confirmation:
    """Asks the provider about one pending attempt and applies the answer. Raises PaymentError (audited)."""
    with uow:
        gateway = gateway_for(uow, gateways=gateways, vault=vault, provider=payment.provider)
    try:
        outcome = gateway.check(payment.provider_ref or "")
    except PaymentError as exc:
        with uow:
            records.audit(uow, randomness=randomness, clock=clock, action="payment_check_failed",
                          company_id=payment.company_id, contact_id=payment.contact_id,
                          detail=f"{describe(payment)} ({source}): {exc}")
            uow.commit()
        raise
    return confirm_payment(uow, clock=clock, randomness=randomness, templates=templates, provider=payment.provider,
                           outcome=outcome, source=source)


# ---- return pages and reconciliation


def payment_return(uow: UnitOfWork, *, gateways: Gateways, vault: CredentialVault, clock: Clock,
                   randomness: Randomness, templates: EmailTemplates, viewer: Viewer, invoice_id: str,
                   cancelled: bool) -> ReturnView:
    """What the client sees back from the provider: the state as the server knows it.

    Nothing in the return URL is trusted. Back from a payment, the viewer's open attempts are checked with the
    provider server-side, and what the provider says was paid is applied (once, by the ledger). Back from a
    cancel, nothing is changed: the attempt stays open, so a payment finished on that page after all is still
    credited by the webhook, a later return or `portal payments reconcile`, and the next Pay Now finds the same
    page. Raises UnknownRecord.
    """
    with uow:
        invoice = uow.invoices.get(invoice_id)
        if invoice is None or not policy.can_see(viewer.company, viewer.contact, invoice):
            raise UnknownRecord(NOT_FOUND)
        # Every attempt at this invoice, whoever of the company opened its page: Pay Now hands one page to all.
        attempts = uow.payments.list_for_invoice(invoice.id)
    problem = ""
    receipts: list[str] = []
    for attempt in attempts if not cancelled else ():
        if attempt.status != PaymentStatus.PENDING or attempt.provider_ref is None:
            continue
        try:
            done = _check(uow, gateways=gateways, vault=vault, clock=clock, randomness=randomness,
                          templates=templates, payment=attempt, source="return page")
            receipts.extend(done.receipts)
        except (PaymentError, PaymentsNotConfigured) as exc:
            problem = (f"We could not confirm your payment with {PROVIDER_NAMES[attempt.provider]} just now "
                       f"({exc}). If you paid, it will show here once it is confirmed.")
    if not cancelled:
        with uow:
            invoice = uow.invoices.get(invoice_id) or invoice
            attempts = uow.payments.list_for_invoice(invoice.id)
    latest = attempts[-1] if attempts else None
    if latest is None or latest.status in CLOSED_UNPAID or (cancelled and latest.status == PaymentStatus.PENDING):
        state = ReturnState.CANCELLED
    elif latest.status == PaymentStatus.SUCCEEDED:
        state = ReturnState.RECEIVED
    else:  # pending, or received and waiting for the business's review
        state = ReturnState.PROCESSING
    return ReturnView(invoice=invoice, state=state, payment=latest, problem=problem, receipts=tuple(receipts))


def confirmed_counts(uow: UnitOfWork) -> dict[Provider, int]:
    """Payments confirmed and applied, by provider (every provider named, zeros included), however they were confirmed:
    a webhook, the client's return, or `portal payments reconcile`."""
    with uow:
        counts = uow.payments.count_succeeded()
    return {provider: counts.get(provider, 0) for provider in Provider}


def reconcile_pending(uow: UnitOfWork, *, gateways: Gateways, vault: CredentialVault, clock: Clock,
                      randomness: Randomness, templates: EmailTemplates,
                      older_than: dt.timedelta = dt.timedelta(0)) -> ReconcileReport:
    """Asks the providers about every attempt still pending (orders whose client never came back)."""
    with uow:
        pending = [p for p in uow.payments.list_pending() if p.created_at <= clock.now() - older_than]
    settled = 0
    failures: list[str] = []
    receipts: list[str] = []
    for payment in pending:
        try:
            done = _check(uow, gateways=gateways, vault=vault, clock=clock, randomness=randomness,
                          templates=templates, payment=payment, source="reconcile")
        except (PaymentError, PaymentsNotConfigured) as exc:
            failures.append(f"{payment.id}: {exc}")
            continue
        if done.payment is not None and done.payment.status != PaymentStatus.PENDING:
            settled += 1
        receipts.extend(done.receipts)
    return ReconcileReport(checked=len(pending), settled=settled, failed_checks=tuple(failures),
                           receipts=tuple(receipts))
