"""Online payments: connecting providers, Pay Now, the ledger that applies confirmed payments, and reconciliation.

The ledger rule: an invoice's amount paid grows by a payment's amount exactly once, when that payment first moves
to succeeded, under a lock on the invoice row. Every later notice about the same payment (a duplicated webhook, a
reordered event, a return page checking again) finds it settled and changes nothing. A payment whose reported
amount or currency differs from what was asked, that arrives for a void invoice, or that would take the invoice
past its total is recorded for review and never applied.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping, Sequence

import attrs

from portal_core import languages, outbox, policy, records, webhooks
from portal_core.errors import (
    InvalidInput,
    PaymentError,
    PaymentNotPossible,
    PaymentsNotConfigured,
    UnknownRecord,
)
from portal_core.ids import new_id
from portal_core.model.documents import CREDITABLE, Invoice, InvoiceStatus
from portal_core.model.mail import PaymentReceiptNotice
from portal_core.model.money import Money
from portal_core.model.outbox import MailPurpose
from portal_core.model.payment import (
    CLOSED_UNPAID,
    MONEY_RECEIVED,
    CheckoutLine,
    CheckoutRequest,
    OutcomeKind,
    Payment,
    PaymentOutcome,
    PaymentStatus,
    Provider,
    ProviderConnection,
    allocations_of,
    closing_status,
    provider_accepts,
)
from portal_core.model.webhook import EventType
from portal_core.ports import (
    Clock,
    CredentialVault,
    EmailTemplates,
    GatewayFactory,
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
NOT_FOUND = "no such invoice"
PROVIDER_NAMES = {Provider.STRIPE: "Stripe", Provider.TELR: "Telr"}
# Which credentials each provider needs, and which of them are secrets (shown as their last 4 characters only).
CREDENTIAL_FIELDS: dict[Provider, tuple[str, ...]] = {
    Provider.STRIPE: ("secret_key", "webhook_secret"),
    Provider.TELR: ("store_id", "auth_key", "test_mode"),
}
SECRET_FIELDS = frozenset({"secret_key", "webhook_secret", "auth_key"})

Gateways = Mapping[Provider, GatewayFactory]


class ReturnState:
    RECEIVED = "payment received"
    PROCESSING = "payment processing"
    CANCELLED = "payment cancelled"


@attrs.frozen(kw_only=True)
class ProviderStatus:
    provider: Provider
    connected_at: dt.datetime
    shown: tuple[tuple[str, str], ...]  # (field, value) with secrets masked

    def describe(self) -> str:
        return f"{self.provider.value}: connected " + " ".join(f"{k}={v}" for k, v in self.shown)


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


def _describe(payment: Payment) -> str:
    invoices = ("invoices " if len(payment.allocations) > 1 else "invoice ") + ", ".join(payment.invoice_ids)
    return f"payment {payment.id} of {payment.amount} via {payment.provider.value} for {invoices}"


def parse_provider(value: str) -> Provider:
    try:
        return Provider(str(value).strip().lower())
    except ValueError:
        raise InvalidInput(f"unknown payment provider {value!r} (expected stripe or telr)") from None


# ---- connecting providers (staff, through the CLI)


def _mask(field: str, value: str) -> str:
    if field not in SECRET_FIELDS:
        return value
    return "…" + value[-4:] if len(value) > 4 else "…"


def _check_credentials(provider: Provider, credentials: Mapping[str, str]) -> dict[str, str]:
    values = {k: str(v).strip() for k, v in credentials.items()}
    if set(values) != set(CREDENTIAL_FIELDS[provider]):
        raise InvalidInput(f"{provider.value} needs exactly: {', '.join(CREDENTIAL_FIELDS[provider])}")
    if provider == Provider.STRIPE:
        if not values["secret_key"].startswith(("sk_", "rk_")):
            raise InvalidInput("the Stripe secret key starts with sk_ (or rk_ for a restricted key)")
        if not values["webhook_secret"].startswith("whsec_"):
            raise InvalidInput("the Stripe webhook signing secret starts with whsec_")
    else:
        if not values["store_id"].isdigit():
            raise InvalidInput("the Telr store id is a number")
        if not values["auth_key"] or any(c.isspace() for c in values["auth_key"]):
            raise InvalidInput("the Telr auth key must be given, without spaces")
        if values["test_mode"] not in ("0", "1"):
            raise InvalidInput("test_mode is 0 or 1")
    return values


def _status(vault: CredentialVault, connection: ProviderConnection) -> ProviderStatus:
    credentials = _open(vault, connection)
    shown = tuple((field, _mask(field, credentials.get(field, ""))) for field in CREDENTIAL_FIELDS[connection.provider])
    return ProviderStatus(provider=connection.provider, connected_at=connection.connected_at, shown=shown)


def _open(vault: CredentialVault, connection: ProviderConnection) -> dict[str, str]:
    data = json.loads(vault.open(connection.sealed_credentials).decode("utf-8"))
    return {str(k): str(v) for k, v in data.items()}


def connect_provider(uow: UnitOfWork, *, vault: CredentialVault, clock: Clock, randomness: Randomness,
                     provider: Provider, credentials: Mapping[str, str]) -> ProviderStatus:
    """Stores the provider's credentials encrypted (replacing earlier ones). Raises InvalidInput."""
    provider = Provider(provider)
    values = _check_credentials(provider, credentials)
    sealed = vault.seal(json.dumps(values, sort_keys=True).encode("utf-8"))
    connection = ProviderConnection(provider=provider, sealed_credentials=sealed, connected_at=clock.now())
    with uow:
        uow.payment_providers.save(connection)
        records.audit(uow, randomness=randomness, clock=clock, action="payment_provider_connected", company_id=None,
                      detail=provider.value)
        uow.commit()
    return _status(vault, connection)


def disconnect_provider(uow: UnitOfWork, *, clock: Clock, randomness: Randomness, provider: Provider) -> bool:
    """Forgets the provider's credentials; Pay Now through it disappears at once. False when it was not connected."""
    provider = Provider(provider)
    with uow:
        if uow.payment_providers.get(provider) is None:
            return False
        uow.payment_providers.remove(provider)
        records.audit(uow, randomness=randomness, clock=clock, action="payment_provider_disconnected", company_id=None,
                      detail=provider.value)
        uow.commit()
    return True


def provider_status(uow: UnitOfWork, *, vault: CredentialVault) -> list[ProviderStatus]:
    with uow:
        connections = uow.payment_providers.list()
    return [_status(vault, connection) for connection in connections]


def connected_providers(uow: UnitOfWork) -> tuple[Provider, ...]:
    with uow:
        return tuple(c.provider for c in uow.payment_providers.list())


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


def _gateway(uow: UnitOfWork, gateways: Gateways, vault: CredentialVault, provider: Provider) -> PaymentGateway:
    connection = uow.payment_providers.get(provider)
    if connection is None or provider not in gateways:
        raise PaymentsNotConfigured(f"{provider.value} is not connected")
    return gateways[provider](_open(vault, connection))


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
    _apply(uow, clock=clock, randomness=randomness, templates=templates, provider=attempt.provider, outcome=outcome,
           source="pay now")
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
        gateway = _gateway(uow, gateways, vault, chosen)
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
                      contact_id=viewer.contact.id, ip=ip, detail=_describe(payment))
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
                          detail=f"{_describe(payment)}: {exc}")
            uow.commit()
            raise
        payment.provider_ref, payment.checkout_url = checkout.provider_ref, checkout.url
        uow.payments.update(payment)
        records.audit(uow, randomness=randomness, clock=clock, action="payment_checkout_opened",
                      company_id=first.company_id, contact_id=viewer.contact.id, ip=ip,
                      detail=f"{_describe(payment)} ref {checkout.provider_ref}")
        uow.commit()
    return StartedPayment(payment=payment, url=checkout.url)


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




def _apply(uow: UnitOfWork, *, clock: Clock, randomness: Randomness, templates: EmailTemplates,
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
                      contact_id=contact_id, detail=f"{_describe(payment)} ({source}){': ' + detail if detail else ''}")

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
        confirmation = _apply(uow, clock=clock, randomness=randomness, templates=templates,
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
        gateway = _gateway(uow, gateways, vault, provider)
    event = gateway.parse_webhook(payload, headers)
    with uow:
        # Recorded in the same transaction as its effect: if applying fails, the provider's retry is processed.
        if not uow.processed_events.record(provider, event.event_id, clock.now()):
            return Confirmation(payment=None, duplicate=True)
        if event.outcome is None:
            uow.commit()
            return Confirmation(payment=None)
        confirmation = _apply(uow, clock=clock, randomness=randomness, templates=templates, provider=provider,
                              outcome=event.outcome, source=f"webhook {event.event_type} {event.event_id}")
        uow.commit()
    return confirmation


def _check(uow: UnitOfWork, *, gateways: Gateways, vault: CredentialVault, clock: Clock, randomness: Randomness,
           templates: EmailTemplates, payment: Payment, source: str) -> Confirmation:
    """Asks the provider about one pending attempt and applies the answer. Raises PaymentError (audited)."""
    with uow:
        gateway = _gateway(uow, gateways, vault, payment.provider)
    try:
        outcome = gateway.check(payment.provider_ref or "")
    except PaymentError as exc:
        with uow:
            records.audit(uow, randomness=randomness, clock=clock, action="payment_check_failed",
                          company_id=payment.company_id, contact_id=payment.contact_id,
                          detail=f"{_describe(payment)} ({source}): {exc}")
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
