"""Pay Now: a client pays one invoice, or several at once, through a connected provider's hosted checkout. The
payment is recorded before the provider is called (its attempt key makes the call idempotent), and the ledger
(ledger.py) applies it once the provider confirms it; providers are connected in payment_providers.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

import attrs

from portal_core import policy, records
from portal_core.errors import (
    PaymentError,
    PaymentNotPossible,
    PaymentsNotConfigured,
    UnknownRecord,
)
from portal_core.ids import new_id
from portal_core.ledger import NOT_FOUND, apply_outcome, describe
from portal_core.model.documents import Invoice
from portal_core.model.money import Money
from portal_core.model.payment import (
    CheckoutLine,
    CheckoutRequest,
    OutcomeKind,
    Payment,
    PaymentStatus,
    Provider,
    allocations_of,
    provider_accepts,
)
from portal_core.payment_providers import PROVIDER_NAMES, Gateways, gateway_for
from portal_core.ports import (
    Clock,
    CredentialVault,
    EmailTemplates,
    PaymentGateway,
    Randomness,
    UnitOfWork,
)
from portal_core.sign_in import Viewer

ATTEMPT_KEY_BYTES = 18  # 24 characters: Telr's cart id allows 63
# How long an attempt's hosted page is handed out (Stripe is told to expire the session then: its minimum is 30
# minutes), and how much time must be left on it for another Pay Now to be sent there rather than to a new one.
ATTEMPT_LIFETIME = dt.timedelta(hours=1)
ATTEMPT_REUSE_MARGIN = dt.timedelta(minutes=10)


@attrs.frozen(kw_only=True)
class PaymentChoice:
    """How an invoice can be paid online: the providers that can take its outstanding amount, else why not."""

    providers: tuple[Provider, ...]
    reason: str = ""


@attrs.frozen(kw_only=True)
class ReturnUrls:
    success: str
    cancel: str
    declined: str


@attrs.frozen(kw_only=True)
class StartedPayment:
    payment: Payment
    url: str


def payment_choice(connected: Sequence[Provider], invoice: Invoice, *, payable: bool,
                   contact_hint: str = "") -> PaymentChoice | None:
    """None when there is no Pay Now at all (no provider, or nothing the viewer may pay)."""
    if not connected or not payable:
        return None
    amount = invoice.outstanding
    accepting = tuple(p for p in connected if provider_accepts(p, amount))
    if accepting:
        return PaymentChoice(providers=accepting)
    return PaymentChoice(providers=(), reason=_cannot_pay_online(amount, contact_hint))


def _cannot_pay_online(amount: Money, contact_hint: str) -> str:
    who = f" ({contact_hint})" if contact_hint else ""
    return f"{amount} cannot be paid online exactly. Please contact us{who} to pay this invoice."


# ---- Pay Now


def _choose(connected: Sequence[Provider], wanted: str | None, amounts: Sequence[Money], contact_hint: str) -> Provider:
    """The provider for a payment of `amounts` (one per invoice; a provider must take each of them and their sum)."""
    amount = Money(sum(a.minor for a in amounts), amounts[0].currency)

    def accepts(provider: Provider) -> bool:
        return provider_accepts(provider, amount) and all(provider_accepts(provider, a) for a in amounts)

    if wanted:
        try:
            provider = Provider(wanted.strip().lower())
        except ValueError:
            provider = None
        if provider is None or provider not in connected:
            raise PaymentNotPossible("Choose one of the payment options shown on the invoice.")
    else:
        accepting = [p for p in connected if accepts(p)]
        if len(connected) == 1 or len(accepting) == 1:
            provider = accepting[0] if accepting else connected[0]
        elif not accepting:
            raise PaymentNotPossible(_cannot_pay_online(amount, contact_hint))
        else:
            raise PaymentNotPossible("Choose how you want to pay: " + " or ".join(
                PROVIDER_NAMES[p] for p in accepting) + ".")
    if not accepts(provider):
        others = [p for p in connected if p != provider and accepts(p)]
        if others:
            raise PaymentNotPossible(f"{PROVIDER_NAMES[provider]} cannot take {amount} exactly. Please pay with "
                                     f"{PROVIDER_NAMES[others[0]]} instead.")
        raise PaymentNotPossible(_cannot_pay_online(amount, contact_hint))
    return provider


def _still_open(uow: UnitOfWork, gateway: PaymentGateway, attempt: Payment, *, clock: Clock,
                randomness: Randomness, templates: EmailTemplates) -> bool:
    """Asks the provider whether an open attempt's page can still be paid; what it says has happened (declined,
    cancelled, expired, paid) is applied by the ledger first. A provider that cannot be asked just now gets the
    benefit of the doubt: its page is handed out again rather than a second one opened."""
    try:
        outcome = gateway.check(attempt.provider_ref or "")
    except PaymentError:
        return True
    if outcome.kind == OutcomeKind.PENDING:
        return True
    apply_outcome(uow, clock=clock, randomness=randomness, templates=templates, provider=attempt.provider,
                  outcome=outcome, source="pay now")
    return False


MAX_INVOICES_AT_ONCE = 50
SEVERAL_NOT_FOUND = "One of the chosen invoices cannot be found. Reload the invoice list and choose again."


def _lock_single(uow: UnitOfWork, viewer: Viewer, invoice_id: str) -> list[Invoice]:
    invoice = uow.invoices.get_for_update(invoice_id)
    if invoice is None or not policy.can_see(viewer.company, viewer.contact, invoice):
        raise UnknownRecord(NOT_FOUND)
    if not policy.can_pay(viewer.company, viewer.contact, invoice):
        raise PaymentNotPossible(f"Invoice {invoice.number} has nothing left to pay online.")
    return [invoice]


def _lock_several(uow: UnitOfWork, viewer: Viewer, invoice_ids: Sequence[str]) -> list[Invoice]:
    """The chosen invoices, locked in id order (so that two payments never wait for each other), each one the
    viewer may pay, all in one currency; else PaymentNotPossible naming the problem (never whether an invoice the
    viewer may not see exists)."""
    wanted = sorted({str(i) for i in invoice_ids if str(i).strip()})
    if not wanted:
        raise PaymentNotPossible("Choose at least one invoice to pay.")
    if len(wanted) > MAX_INVOICES_AT_ONCE:
        raise PaymentNotPossible(f"Choose at most {MAX_INVOICES_AT_ONCE} invoices to pay at once.")
    invoices = []
    for invoice_id in wanted:
        invoice = uow.invoices.get_for_update(invoice_id)
        if invoice is None or not policy.can_see(viewer.company, viewer.contact, invoice):
            raise PaymentNotPossible(SEVERAL_NOT_FOUND)
        if not policy.can_pay(viewer.company, viewer.contact, invoice):
            raise PaymentNotPossible(f"Invoice {invoice.number} has nothing left to pay: leave it out and choose "
                                     "again.")
        invoices.append(invoice)
    currencies = sorted({invoice.currency for invoice in invoices})
    if len(currencies) > 1:
        raise PaymentNotPossible(f"Invoices in {' and '.join(currencies)} cannot be paid together: choose invoices "
                                 "of one currency.")
    return invoices


def start_payment(uow: UnitOfWork, *, gateways: Gateways, vault: CredentialVault, clock: Clock,
                  randomness: Randomness, templates: EmailTemplates, viewer: Viewer, invoice_id: str,
                  provider: str | None, urls: ReturnUrls, ip: str | None = None) -> StartedPayment:
    """The hosted payment page for the invoice's outstanding amount: the open one, or a new attempt.

    One attempt at a time: while an attempt of the same invoice, amount and provider is open (pending, with time
    left on its page, and the provider still calling it open), every Pay Now (another tab, another contact of the
    company) gets that same page, and nothing new is created at the provider. The invoice row is locked from the
    check until the new attempt is recorded, provider calls included, so parallel clicks wait for the first and then
    find its page. (On PostgreSQL that holds back only this invoice's Pay Now and confirmations; on SQLite, whose
    transactions hold the one write lock, every writer waits for the provider: one more reason SQLite is for one
    host and the demo.) The amount and currency come from the invoice alone.

    Raises PaymentsNotConfigured (no provider: there is no Pay Now), UnknownRecord (an invoice the viewer may not
    see), PaymentNotPossible (nothing to pay, or no chosen provider can take the amount exactly: never rounded) and
    PaymentError (the provider failed; the attempt is closed as failed and the invoice is unchanged).
    """
    return _start(uow, gateways=gateways, vault=vault, clock=clock, randomness=randomness, templates=templates,
                  viewer=viewer, lock=lambda: _lock_single(uow, viewer, invoice_id), provider=provider, urls=urls,
                  ip=ip)


def start_payment_of_several(uow: UnitOfWork, *, gateways: Gateways, vault: CredentialVault, clock: Clock,
                             randomness: Randomness, templates: EmailTemplates, viewer: Viewer,
                             invoice_ids: Sequence[str], provider: str | None, urls: ReturnUrls,
                             ip: str | None = None) -> StartedPayment:
    """One hosted payment page for several open invoices of one currency: the sum of their outstanding amounts,
    each invoice credited its own share when the payment is confirmed. The same invoices (in any order) with the
    same amounts reuse the open attempt, as start_payment does for one invoice.

    Raises PaymentsNotConfigured, PaymentNotPossible (an invoice the viewer may not pay, which is not named unless
    the viewer can see it; invoices in two currencies; none chosen) and PaymentError; nothing is created at the
    provider when the choice is refused.
    """
    return _start(uow, gateways=gateways, vault=vault, clock=clock, randomness=randomness, templates=templates,
                  viewer=viewer, lock=lambda: _lock_several(uow, viewer, invoice_ids), provider=provider, urls=urls,
                  ip=ip)


def _start(uow: UnitOfWork, *, gateways: Gateways, vault: CredentialVault, clock: Clock, randomness: Randomness,
           templates: EmailTemplates, viewer: Viewer, lock: Callable[[], list[Invoice]], provider: str | None,
           urls: ReturnUrls, ip: str | None) -> StartedPayment:
    with uow:
        connected = [c.provider for c in uow.payment_providers.list()]
        if not connected:
            raise PaymentsNotConfigured("no payment provider is connected")
        invoices = lock()
        allocations = allocations_of([(i.id, i.outstanding) for i in invoices])
        amounts = [a.amount for a in allocations]
        amount = Money(sum(a.minor for a in amounts), amounts[0].currency)
        business = uow.business.get()
        hint = business.email if business is not None else ""
        chosen = _choose(connected, provider, amounts, hint)
        now = clock.now()
        gateway = gateway_for(uow, gateways=gateways, vault=vault, provider=chosen)
        first = invoices[0]
        for attempt in uow.payments.list_for_invoice(first.id):
            if (attempt.reusable_for(chosen, amount, now, ATTEMPT_REUSE_MARGIN, allocations=allocations)
                    and attempt.checkout_url):
                if _still_open(uow, gateway, attempt, clock=clock, randomness=randomness, templates=templates):
                    return StartedPayment(payment=attempt, url=attempt.checkout_url)
                invoices = [uow.invoices.get_for_update(i.id) or i for i in invoices]
                if not all(policy.can_pay(viewer.company, viewer.contact, i) for i in invoices):  # just paid
                    uow.commit()
                    raise PaymentNotPossible(f"Invoice {', '.join(i.number for i in invoices)} has nothing left to "
                                             "pay online.")
                if allocations_of([(i.id, i.outstanding) for i in invoices]) != allocations:
                    uow.commit()
                    raise PaymentNotPossible("This invoice changed while you were paying. Please reload it.")
        payment = Payment.start(id=new_id(randomness), company_id=first.company_id, contact_id=viewer.contact.id,
                                provider=chosen, allocations=allocations,
                                attempt_key=randomness.token(ATTEMPT_KEY_BYTES), now=now, lifetime=ATTEMPT_LIFETIME)
        uow.payments.add(payment)
        records.audit(uow, randomness=randomness, clock=clock, action="payment_started", company_id=first.company_id,
                      contact_id=viewer.contact.id, ip=ip, detail=describe(payment))
        numbers = sorted(i.number for i in invoices)
        several = len(invoices) > 1
        request = CheckoutRequest(
            payment_id=payment.id, attempt_key=payment.attempt_key, invoice_id=first.id,
            invoice_number=", ".join(numbers), amount=amount,
            description=("Invoices " if several else "Invoice ") + ", ".join(numbers),
            customer_email=viewer.contact.email, success_url=urls.success, cancel_url=urls.cancel,
            declined_url=urls.declined, expires_at=payment.expires_at,
            lines=tuple(CheckoutLine(invoice_id=i.id, invoice_number=i.number, amount=i.outstanding)
                        for i in invoices) if several else ())
        # Called under the invoices' locks, for at most the provider timeout (see start_payment).
        try:
            checkout = gateway.start_checkout(request)
        except PaymentError as exc:
            payment.close(PaymentStatus.FAILED, clock.now(), note=f"could not start: {exc}")
            uow.payments.update(payment)
            records.audit(uow, randomness=randomness, clock=clock, action="payment_start_failed",
                          company_id=first.company_id, contact_id=viewer.contact.id, ip=ip,
                          detail=f"{describe(payment)}: {exc}")
            uow.commit()
            raise
        payment.provider_ref, payment.checkout_url = checkout.provider_ref, checkout.url
        uow.payments.update(payment)
        records.audit(uow, randomness=randomness, clock=clock, action="payment_checkout_opened",
                      company_id=first.company_id, contact_id=viewer.contact.id, ip=ip,
                      detail=f"{describe(payment)} ref {checkout.provider_ref}")
        uow.commit()
    return StartedPayment(payment=payment, url=checkout.url)
