"""Payments on the in-memory adapters: Pay Now, the ledger (a hypothesis property), void refusal, Stripe's
three-decimal rule, connecting providers, and webhooks processed once."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.crypto import FernetCredentialVault
from adapters.jinja import JinjaEmailTemplates
from adapters.memory import FixedClock, InMemoryPaymentGateway, InMemoryStore, InMemoryUnitOfWork, SeededRandomness
from adapters.memory.payments import SIGNATURE_HEADER
from adapters.stripe import StripePaymentGateway
from adapters.telr import TelrPaymentGateway
from portal_core import ledger, payment_providers, payments
from portal_core.errors import (
    CredentialsUnreadable,
    InvalidInput,
    InvalidSignature,
    PaymentError,
    PaymentNotPossible,
    PaymentsNotConfigured,
    UnknownRecord,
)
from portal_core.ids import new_id
from portal_core.model.business import Business
from portal_core.model.company import Company
from portal_core.model.contact import Contact
from portal_core.model.documents import Invoice, InvoiceStatus, Line
from portal_core.model.money import Money
from portal_core.model.outbox import MailPurpose, OutboxMessage, OutboxStatus
from portal_core.model.payment import (
    MONEY_RECEIVED,
    OutcomeKind,
    Payment,
    PaymentOutcome,
    PaymentStatus,
    Provider,
    provider_accepts,
)
from portal_core.sign_in import Viewer

START = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
SECRET = "unit-test-secret-key-for-payments"
URLS = payments.ReturnUrls(success="https://portal.test/paid", cancel="https://portal.test/cancelled",
                           declined="https://portal.test/cancelled")
STRIPE_CREDENTIALS = {"secret_key": "sk_test_abcdef123456", "webhook_secret": "whsec_secret9876"}
TELR_CREDENTIALS = {"store_id": "12345", "auth_key": "telr-auth-KEY-4321", "test_mode": "1"}


@attrs.define
class World:
    uow: InMemoryUnitOfWork
    clock: FixedClock
    randomness: SeededRandomness
    vault: FernetCredentialVault
    stripe: InMemoryPaymentGateway
    telr: InMemoryPaymentGateway
    viewer: Viewer
    invoice_id: str

    @property
    def gateways(self) -> payment_providers.Gateways:
        return {Provider.STRIPE: self.stripe.factory, Provider.TELR: self.telr.factory}

    def connect(self, *providers: Provider) -> None:
        for provider in providers:
            credentials = STRIPE_CREDENTIALS if provider == Provider.STRIPE else TELR_CREDENTIALS
            payment_providers.connect_provider(self.uow, vault=self.vault, clock=self.clock, randomness=self.randomness,
                                               provider=provider, credentials=credentials)

    def start(self, provider: str | None = None) -> payments.StartedPayment:
        return payments.start_payment(self.uow, gateways=self.gateways, vault=self.vault, clock=self.clock,
                                      randomness=self.randomness, templates=JinjaEmailTemplates(),
                                      viewer=self.viewer, invoice_id=self.invoice_id,
                                      provider=provider, urls=URLS, ip="203.0.113.9")

    def confirm(self, provider: Provider, outcome: PaymentOutcome) -> ledger.Confirmation:
        return ledger.confirm_payment(self.uow, clock=self.clock, randomness=self.randomness,
                                      templates=JinjaEmailTemplates(), provider=provider, outcome=outcome,
                                      source="test")

    def invoice(self) -> Invoice:
        with self.uow:
            found = self.uow.invoices.get(self.invoice_id)
        assert found is not None
        return found

    def payments(self) -> list[Payment]:
        with self.uow:
            return self.uow.payments.list_for_invoice(self.invoice_id)

    def queued(self, message_id: str) -> OutboxMessage:
        """A message as it waits in the outbox."""
        with self.uow:
            message = self.uow.outbox.get(message_id)
        assert message is not None
        return message

    def audit_actions(self) -> list[str]:
        with self.uow:
            return [e.action for e in reversed(self.uow.audit.list_for_company(self.viewer.company.id))]

    def set_invoice(self, **changes: object) -> None:
        with self.uow:
            invoice = self.uow.invoices.get(self.invoice_id)
            assert invoice is not None
            for name, value in changes.items():
                setattr(invoice, name, value)
            self.uow.invoices.update(invoice)
            self.uow.commit()


def make_world(*, currency: str = "AED", unit_price: str = "120.00", quantity: str = "3", paid: str = "0",
               status: InvoiceStatus = InvoiceStatus.SENT, seed: int = 0) -> World:
    randomness = SeededRandomness(seed)
    uow = InMemoryUnitOfWork(InMemoryStore())
    company = Company(id=new_id(randomness), name="Globex LLC", link_token="t" * 32, portal_enabled=True)
    contact = Contact(id=new_id(randomness), company_id=company.id, name="Homer Simpson",
                      email="homer@globex.example")
    invoice = Invoice(id=new_id(randomness), company_id=company.id, number="INV-2001", status=status,
                      currency=currency, issued_date=dt.date(2026, 10, 1), due_date=dt.date(2026, 10, 31),
                      lines=(Line("Labour", Decimal(quantity), Money.parse(unit_price, currency)),),
                      tax=Money.zero(currency), amount_paid=Money.parse(paid, currency))
    with uow:
        uow.business.save(Business(name="Falcon Facilities", email="office@falcon.example"))
        uow.companies.add(company)
        uow.contacts.add(contact)
        uow.invoices.add(invoice)
        uow.commit()
    return World(uow=uow, clock=FixedClock(START), randomness=randomness,
                 vault=FernetCredentialVault.from_secret(SECRET), stripe=InMemoryPaymentGateway(name="stripe"),
                 telr=InMemoryPaymentGateway(name="telr"),
                 viewer=Viewer(company=company, contact=contact, session_id="s"), invoice_id=invoice.id)


def paid(payment: Payment, *, minor: int | None = None, currency: str | None = None) -> PaymentOutcome:
    return PaymentOutcome(provider_ref=payment.provider_ref or "", kind=OutcomeKind.PAID,
                          paid_minor=payment.amount.minor if minor is None else minor,
                          paid_currency=currency or payment.amount.currency)


# ---- Pay Now


def test_pay_now_charges_the_outstanding_amount_computed_on_the_server() -> None:
    world = make_world(paid="100.00")
    world.connect(Provider.STRIPE)
    started = world.start()
    assert started.url.startswith("https://pay.stripe.test/")
    [request] = world.stripe.checkouts
    assert request.amount == Money.parse("260.00", "AED")
    assert request.invoice_number == "INV-2001" and request.invoice_id == world.invoice_id
    assert request.payment_id == started.payment.id and request.attempt_key == started.payment.attempt_key
    [payment] = world.payments()
    assert payment.status == PaymentStatus.PENDING and payment.provider_ref is not None
    assert world.stripe.credentials_seen == [STRIPE_CREDENTIALS]  # decrypted per use
    assert sorted(world.audit_actions()) == ["payment_checkout_opened", "payment_started"]


def test_every_attempt_has_its_own_key() -> None:
    world = make_world()
    world.connect(Provider.TELR)
    world.start()
    world.clock.advance(seconds=(payments.ATTEMPT_LIFETIME - payments.ATTEMPT_REUSE_MARGIN).total_seconds())
    world.start()  # the first page is too close to its end to be handed out again: a new attempt
    keys = [c.attempt_key for c in world.telr.checkouts]
    assert len(set(keys)) == 2
    assert len({p.attempt_key for p in world.payments()}) == 2


# ---- one open attempt at a time


def _contact_viewer(world: World, name: str, email: str) -> Viewer:
    """Another contact of the viewer's company, signed in."""
    contact = Contact(id=new_id(world.randomness), company_id=world.viewer.company.id, name=name, email=email)
    with world.uow:
        world.uow.contacts.add(contact)
        world.uow.commit()
    return Viewer(company=world.viewer.company, contact=contact, session_id="s2")


@pytest.mark.parametrize("provider", [Provider.STRIPE, Provider.TELR])
def test_a_second_pay_now_gets_the_open_attempts_page_and_creates_nothing(provider: Provider) -> None:
    world = make_world()
    world.connect(provider)
    gateway = world.stripe if provider == Provider.STRIPE else world.telr
    first = world.start()
    actions = world.audit_actions()
    world.clock.advance(minutes=20)
    again = world.start()  # another tab
    assert again.url == first.url and again.payment.id == first.payment.id
    assert again.payment.checkout_url == first.url and again.payment.provider_ref == first.payment.provider_ref
    world.viewer = _contact_viewer(world, "Marge Simpson", "marge@globex.example")
    other = world.start()  # another contact of the same company
    assert other.url == first.url and other.payment.id == first.payment.id
    assert len(gateway.checkouts) == 1 and len(world.payments()) == 1
    assert world.audit_actions() == actions  # handing out the same page records nothing new
    [payment] = world.payments()
    assert payment.status == PaymentStatus.PENDING and payment.contact_id == first.payment.contact_id


def test_the_attempt_records_its_page_and_when_it_stops_being_handed_out() -> None:
    world = make_world()
    world.connect(Provider.STRIPE)
    started = world.start()
    [request] = world.stripe.checkouts
    assert request.expires_at == START + payments.ATTEMPT_LIFETIME == START + dt.timedelta(hours=1)
    [payment] = world.payments()
    assert payment.checkout_url == started.url and payment.expires_at == START + dt.timedelta(hours=1)


def test_an_attempt_is_handed_out_only_while_more_than_the_margin_is_left() -> None:
    world = make_world()
    world.connect(Provider.STRIPE)
    first = world.start()
    last_reuse = payments.ATTEMPT_LIFETIME - payments.ATTEMPT_REUSE_MARGIN - dt.timedelta(seconds=1)
    world.clock.set(START + last_reuse)
    assert world.start().url == first.url and len(world.stripe.checkouts) == 1
    world.clock.advance(seconds=1)  # exactly the margin left: a client could not finish paying there
    second = world.start()
    assert second.url != first.url and second.payment.id != first.payment.id
    assert len(world.stripe.checkouts) == 2 and world.stripe.checkouts[1].attempt_key != first.payment.attempt_key
    assert second.payment.expires_at == START + last_reuse + dt.timedelta(seconds=1) + payments.ATTEMPT_LIFETIME
    # The old attempt is not closed by that: the client may still pay on its page until Stripe expires it.
    assert [p.status for p in world.payments()] == [PaymentStatus.PENDING, PaymentStatus.PENDING]
    assert world.start().url == second.url  # and the new page is the one handed out from now on


def test_another_amount_after_a_part_payment_opens_a_new_attempt() -> None:
    world = make_world()
    world.connect(Provider.STRIPE)
    first = world.start()
    world.set_invoice(amount_paid=Money.parse("100.00", "AED"), status=InvoiceStatus.PARTIALLY_PAID)
    second = world.start()
    assert second.url != first.url and second.payment.amount == Money.parse("260.00", "AED")
    assert [c.amount for c in world.stripe.checkouts] == [Money.parse("360.00", "AED"), Money.parse("260.00", "AED")]
    assert world.start().url == second.url


def test_another_provider_opens_a_new_attempt_and_each_keeps_its_own_page() -> None:
    world = make_world()
    world.connect(Provider.STRIPE, Provider.TELR)
    stripe_page = world.start("stripe")
    telr_page = world.start("telr")
    assert telr_page.url != stripe_page.url and telr_page.payment.provider == Provider.TELR
    assert world.start("stripe").url == stripe_page.url and world.start("telr").url == telr_page.url
    assert len(world.stripe.checkouts) == 1 and len(world.telr.checkouts) == 1


@pytest.mark.parametrize("kind", [OutcomeKind.FAILED, OutcomeKind.CANCELLED, OutcomeKind.EXPIRED])
def test_a_closed_attempt_is_never_handed_out_again(kind: OutcomeKind) -> None:
    world = make_world()
    world.connect(Provider.STRIPE)
    first = world.start()
    world.confirm(Provider.STRIPE, PaymentOutcome(provider_ref=first.payment.provider_ref or "", kind=kind))
    second = world.start()
    assert second.url != first.url and len(world.stripe.checkouts) == 2


def test_a_failed_start_is_not_handed_out_and_the_next_click_tries_again() -> None:
    world = make_world()
    world.connect(Provider.STRIPE)
    world.stripe.fail_with = "Stripe could not be reached just now."
    with pytest.raises(PaymentError):
        world.start()
    world.stripe.fail_with = None
    started = world.start()
    assert [p.status for p in world.payments()] == [PaymentStatus.FAILED, PaymentStatus.PENDING]
    assert world.start().url == started.url and len(world.stripe.checkouts) == 1


def test_an_attempt_from_before_pages_were_kept_is_not_handed_out() -> None:
    world = make_world()
    world.connect(Provider.STRIPE)
    with world.uow:  # a pending attempt recorded before checkout_url and expires_at existed
        old = Payment(id="legacy", invoice_id=world.invoice_id, company_id=world.viewer.company.id,
                      contact_id=world.viewer.contact.id, provider=Provider.STRIPE,
                      amount=Money.parse("360.00", "AED"), status=PaymentStatus.PENDING, attempt_key="legacy-key",
                      created_at=START, provider_ref="stripe_0_legacy")
        world.uow.payments.add(old)
        world.uow.commit()
    started = world.start()
    assert started.payment.id != "legacy" and len(world.stripe.checkouts) == 1


def test_reusable_for_needs_the_same_provider_and_amount_a_page_and_time_left() -> None:
    amount = Money.parse("360.00", "AED")
    payment = Payment.start(id="p", invoice_id="i", company_id="c", contact_id="k", provider=Provider.STRIPE,
                            amount=amount, attempt_key="key", now=START, lifetime=dt.timedelta(hours=1))
    margin = dt.timedelta(minutes=10)
    assert payment.expires_at == START + dt.timedelta(hours=1) and payment.checkout_url is None
    assert not payment.reusable_for(Provider.STRIPE, amount, START, margin)  # no page yet
    payment.checkout_url = "https://pay.stripe.test/p"
    assert payment.reusable_for(Provider.STRIPE, amount, START + dt.timedelta(minutes=49, seconds=59), margin)
    assert not payment.reusable_for(Provider.STRIPE, amount, START + dt.timedelta(minutes=50), margin)
    assert not payment.reusable_for(Provider.TELR, amount, START, margin)
    assert not payment.reusable_for(Provider.STRIPE, Money.parse("260.00", "AED"), START, margin)
    assert not payment.reusable_for(Provider.STRIPE, Money(36000, "USD"), START, margin)
    payment.close(PaymentStatus.CANCELLED, START)
    assert not payment.reusable_for(Provider.STRIPE, amount, START, margin)


def _back(world: World, *, cancelled: bool) -> ledger.ReturnView:
    return ledger.payment_return(world.uow, gateways=world.gateways, vault=world.vault, clock=world.clock,
                                 randomness=world.randomness, templates=JinjaEmailTemplates(), viewer=world.viewer,
                                 invoice_id=world.invoice_id, cancelled=cancelled)


def test_the_cancel_return_changes_nothing_and_the_next_pay_now_finds_the_same_page() -> None:
    world = make_world()
    world.connect(Provider.STRIPE)
    started = world.start()
    before, actions = world.payments(), world.audit_actions()
    world.stripe.fail_with = "the provider must not be asked"  # a call to it would show as a problem
    for _ in range(2):
        view = _back(world, cancelled=True)
        assert view.state == ledger.ReturnState.CANCELLED and view.problem == "" and view.receipts == ()
    assert world.payments() == before and world.audit_actions() == actions
    world.stripe.fail_with = None
    assert world.start().url == started.url and len(world.stripe.checkouts) == 1
    # Paid on that page after all: the return page credits it.
    world.stripe.outcomes[started.payment.provider_ref or ""] = paid(started.payment)
    view = _back(world, cancelled=False)
    assert view.state == ledger.ReturnState.RECEIVED and len(view.receipts) == 1
    assert world.invoice().status == InvoiceStatus.PAID


def test_without_a_provider_there_is_no_pay_now() -> None:
    world = make_world()
    with pytest.raises(PaymentsNotConfigured):
        world.start()
    assert payments.payment_choice((), world.invoice(), payable=True) is None
    assert world.payments() == []


@pytest.mark.parametrize("status", [InvoiceStatus.PAID, InvoiceStatus.VOID, InvoiceStatus.DRAFT])
def test_an_invoice_that_is_not_payable_is_refused(status: InvoiceStatus) -> None:
    world = make_world(status=status, paid="360.00" if status == InvoiceStatus.PAID else "0")
    world.connect(Provider.STRIPE)
    with pytest.raises((PaymentNotPossible, UnknownRecord)):
        world.start()
    assert world.stripe.checkouts == [] and world.payments() == []


def test_another_companys_invoice_is_unknown() -> None:
    world = make_world()
    world.connect(Provider.STRIPE)
    other = Company(id="other-company-id", name="Initech", link_token="u" * 32, portal_enabled=True)
    world.viewer = attrs.evolve(world.viewer, company=other)
    with pytest.raises(UnknownRecord):
        world.start()


def test_with_both_connected_the_client_chooses() -> None:
    world = make_world()
    world.connect(Provider.STRIPE, Provider.TELR)
    choice = payments.payment_choice((Provider.STRIPE, Provider.TELR), world.invoice(), payable=True)
    assert choice is not None and choice.providers == (Provider.STRIPE, Provider.TELR)
    with pytest.raises(PaymentNotPossible, match="Choose"):
        world.start()
    with pytest.raises(PaymentNotPossible):
        world.start("paypal")
    world.start("telr")
    assert len(world.telr.checkouts) == 1 and world.stripe.checkouts == []


def test_a_provider_failure_closes_the_attempt_and_leaves_the_invoice_alone() -> None:
    world = make_world()
    world.connect(Provider.TELR)
    world.telr.fail_with = "Telr could not be reached just now."
    with pytest.raises(PaymentError, match="could not be reached"):
        world.start()
    [payment] = world.payments()
    assert payment.status == PaymentStatus.FAILED
    assert world.invoice().amount_paid.minor == 0 and world.invoice().status == InvoiceStatus.SENT
    assert "payment_start_failed" in world.audit_actions()


# ---- Stripe's three-decimal currencies


@given(minor=st.integers(min_value=1, max_value=10**9), currency=st.sampled_from(["KWD", "BHD", "OMR", "JOD",
                                                                                      "TND"]))
def test_stripe_takes_a_three_decimal_amount_only_when_its_last_digit_is_zero(minor: int, currency: str) -> None:
    assert provider_accepts(Provider.STRIPE, Money(minor, currency)) == (minor % 10 == 0)
    assert provider_accepts(Provider.TELR, Money(minor, currency))


@pytest.mark.parametrize("currency", ["AED", "JPY", "USD"])
def test_stripe_takes_any_positive_amount_in_other_currencies(currency: str) -> None:
    assert provider_accepts(Provider.STRIPE, Money(12345, currency))


def test_an_amount_stripe_cannot_take_is_never_rounded_the_other_provider_is_offered() -> None:
    world = make_world(currency="KWD", unit_price="12.345", quantity="1")
    world.connect(Provider.STRIPE, Provider.TELR)
    choice = payments.payment_choice((Provider.STRIPE, Provider.TELR), world.invoice(), payable=True)
    assert choice is not None and choice.providers == (Provider.TELR,)
    with pytest.raises(PaymentNotPossible, match="Please pay with Telr"):
        world.start("stripe")
    assert world.stripe.checkouts == []
    world.start()  # the only provider that can take it
    assert world.telr.checkouts[0].amount == Money(12345, "KWD")


def test_with_stripe_alone_the_client_is_told_to_contact_the_business() -> None:
    world = make_world(currency="KWD", unit_price="12.345", quantity="1")
    world.connect(Provider.STRIPE)
    choice = payments.payment_choice((Provider.STRIPE,), world.invoice(), payable=True,
                                     contact_hint="office@falcon.example")
    assert choice is not None and choice.providers == () and "contact us" in choice.reason
    with pytest.raises(PaymentNotPossible, match="contact us"):
        world.start()
    assert world.stripe.checkouts == [] and world.payments() == []


def test_a_three_decimal_amount_ending_in_zero_goes_to_stripe_in_fils() -> None:
    world = make_world(currency="KWD", unit_price="12.340", quantity="1")
    world.connect(Provider.STRIPE)
    world.start()
    assert world.stripe.checkouts[0].amount == Money(12340, "KWD")


# ---- the ledger


def test_a_confirmed_payment_marks_the_invoice_paid_once_and_mails_a_receipt() -> None:
    world = make_world()
    world.connect(Provider.STRIPE)
    payment = world.start().payment
    first = world.confirm(Provider.STRIPE, paid(payment))
    assert first.applied and len(first.receipts) == 1
    queued = world.queued(first.receipts[0])  # queued with the payment, in the ledger's transaction
    assert queued.purpose == MailPurpose.PAYMENT_RECEIPT and queued.status == OutboxStatus.PENDING
    receipt = queued.email
    assert receipt.to == "homer@globex.example" and "AED 360.00" in receipt.text and "INV-2001" in receipt.subject
    again = world.confirm(Provider.STRIPE, paid(payment))
    assert again.duplicate and not again.applied and again.receipts == ()
    with world.uow:
        assert world.uow.outbox.counts() == {OutboxStatus.PENDING: 1}  # one receipt, however often it is confirmed
    invoice = world.invoice()
    assert invoice.status == InvoiceStatus.PAID and invoice.amount_paid == invoice.total
    assert world.payments()[0].status == PaymentStatus.SUCCEEDED


def test_a_part_payment_moves_the_invoice_to_partially_paid() -> None:
    world = make_world()
    world.connect(Provider.TELR)
    payment = world.start().payment
    world.set_invoice(amount_paid=Money.parse("100.00", "AED"))  # paid elsewhere meanwhile: now 260 outstanding
    outcome = world.confirm(Provider.TELR, paid(payment))
    assert outcome.payment is not None and outcome.payment.status == PaymentStatus.OVERPAID
    assert world.invoice().amount_paid == Money.parse("100.00", "AED")
    second = world.start().payment
    assert second.amount == Money.parse("260.00", "AED")
    world.set_invoice(lines=(Line("Labour", Decimal(3), Money.parse("120.00", "AED")),
                             Line("Parts", Decimal(1), Money.parse("40.00", "AED"))))
    assert world.confirm(Provider.TELR, paid(second)).applied
    invoice = world.invoice()
    assert invoice.status == InvoiceStatus.PARTIALLY_PAID and invoice.outstanding == Money.parse("40.00", "AED")


@pytest.mark.parametrize("minor,currency", [(35999, "AED"), (36000, "USD"), (None, None)])
def test_an_amount_or_currency_mismatch_is_recorded_for_review_not_applied(minor: int | None,
                                                                           currency: str | None) -> None:
    world = make_world()
    world.connect(Provider.STRIPE)
    payment = world.start().payment
    outcome = PaymentOutcome(provider_ref=payment.provider_ref or "", kind=OutcomeKind.PAID, paid_minor=minor,
                             paid_currency=currency)
    done = world.confirm(Provider.STRIPE, outcome)
    assert not done.applied and done.payment is not None and done.payment.status == PaymentStatus.MISMATCH
    assert world.invoice().amount_paid.minor == 0 and world.invoice().status == InvoiceStatus.SENT
    assert "payment_mismatch" in world.audit_actions()


def test_a_void_invoices_open_attempt_is_refused_when_it_returns() -> None:
    world = make_world()
    world.connect(Provider.STRIPE)
    payment = world.start().payment
    world.set_invoice(status=InvoiceStatus.VOID)
    done = world.confirm(Provider.STRIPE, paid(payment))
    assert not done.applied and done.payment is not None and done.payment.status == PaymentStatus.MISMATCH
    assert "void" in done.payment.note
    invoice = world.invoice()
    assert invoice.status == InvoiceStatus.VOID and invoice.amount_paid.minor == 0
    assert "payment_refused" in world.audit_actions()


def test_a_late_failure_never_undoes_a_payment_and_a_late_success_still_counts() -> None:
    world = make_world()
    world.connect(Provider.STRIPE)
    first = world.start().payment
    world.clock.advance(hours=1)  # the first page is no longer handed out: the next click opens another
    second = world.start().payment
    assert second.id != first.id
    world.confirm(Provider.STRIPE, paid(first))
    world.confirm(Provider.STRIPE, PaymentOutcome(provider_ref=first.provider_ref or "", kind=OutcomeKind.FAILED))
    assert world.payments()[0].status == PaymentStatus.SUCCEEDED
    world.confirm(Provider.STRIPE, PaymentOutcome(provider_ref=second.provider_ref or "",
                                                  kind=OutcomeKind.EXPIRED))
    world.confirm(Provider.STRIPE, paid(second))  # expired, then paid after all: money received, for review
    assert world.payments()[1].status == PaymentStatus.OVERPAID
    assert world.invoice().amount_paid == world.invoice().total


def test_a_notice_about_an_unknown_reference_changes_nothing() -> None:
    world = make_world()
    world.connect(Provider.STRIPE)
    world.start()
    done = world.confirm(Provider.STRIPE, PaymentOutcome(provider_ref="cs_forged", kind=OutcomeKind.PAID,
                                                         paid_minor=36000, paid_currency="AED"))
    assert done.payment is None and world.invoice().amount_paid.minor == 0


Notice = tuple[int, OutcomeKind, bool]  # (which payment, what the provider says, with the right amount?)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(amounts=st.lists(st.integers(min_value=1, max_value=40_000), min_size=1, max_size=4),
       already=st.integers(min_value=0, max_value=20_000),
       notices=st.lists(st.tuples(st.integers(min_value=0, max_value=3), st.sampled_from(list(OutcomeKind)),
                                  st.booleans()), max_size=25),
       data=st.data())
def test_amount_paid_is_the_sum_of_distinct_successful_payments(amounts: list[int], already: int,
                                                                 notices: list[Notice], data: st.DataObject) -> None:
    """Any sequence of duplicated, reordered, failed and succeeded confirmations: amount paid == what was there
    before + the sum of distinct succeeded payments, never past the total unless an overpayment is flagged."""
    world = make_world(unit_price="400.00", quantity="1", paid=f"{already / 100:.2f}")  # total AED 400.00
    total = world.invoice().total.minor
    refs = []
    with world.uow:
        for i, minor in enumerate(amounts):
            payment = Payment.start(id=f"pay{i}", invoice_id=world.invoice_id, company_id=world.viewer.company.id,
                                    contact_id=world.viewer.contact.id, provider=Provider.STRIPE,
                                    amount=Money(minor, "AED"), attempt_key=f"key{i}", now=START,
                                    lifetime=payments.ATTEMPT_LIFETIME)
            payment.provider_ref = f"cs_{i}"
            world.uow.payments.add(payment)
            refs.append(payment)
        world.uow.commit()
    # Every notice may arrive twice, and in any order.
    delivered = data.draw(st.permutations(notices + [n for n in notices if data.draw(st.booleans())]))
    told_paid: set[int] = set()
    for index, kind, right_amount in delivered:
        if index >= len(refs):
            continue
        payment = refs[index]
        minor = payment.amount.minor if right_amount else payment.amount.minor + 1
        if kind == OutcomeKind.PAID and right_amount:
            told_paid.add(index)
        world.confirm(Provider.STRIPE, PaymentOutcome(provider_ref=payment.provider_ref or "", kind=kind,
                                                      paid_minor=minor, paid_currency="AED"))
    final = {p.id: p for p in world.payments()}
    invoice = world.invoice()
    succeeded = sum(p.amount.minor for p in final.values() if p.status == PaymentStatus.SUCCEEDED)
    assert invoice.amount_paid.minor == already + succeeded
    assert invoice.amount_paid.minor <= max(total, already)
    # A payment the provider called paid (with the right amount) is never lost nor counted twice.
    for index in told_paid:
        assert final[refs[index].id].status in MONEY_RECEIVED
    # Money received in full (not held back as a mismatch) beyond what the invoice could take is flagged.
    asked = sum(refs[i].amount.minor for i in told_paid if final[refs[i].id].status != PaymentStatus.MISMATCH)
    if already + asked > total:
        assert any(p.status == PaymentStatus.OVERPAID for p in final.values())
    if invoice.amount_paid.minor == total:
        assert invoice.status == InvoiceStatus.PAID
    elif succeeded:
        assert invoice.status == InvoiceStatus.PARTIALLY_PAID


# ---- webhooks


def _event(event_id: str, payment: Payment, kind: str = "paid") -> bytes:
    return json.dumps({"id": event_id, "type": "test", "ref": payment.provider_ref, "kind": kind,
                       "paid_minor": payment.amount.minor, "paid_currency": payment.amount.currency}).encode()


def _webhook(world: World, payload: bytes, signature: str) -> ledger.Confirmation:
    return ledger.handle_webhook(world.uow, gateways=world.gateways, vault=world.vault, clock=world.clock,
                                 randomness=world.randomness, templates=JinjaEmailTemplates(), provider=Provider.STRIPE,
                                 payload=payload, headers={SIGNATURE_HEADER: signature})


def test_a_webhook_event_is_processed_once_and_a_forged_one_changes_nothing() -> None:
    world = make_world()
    world.connect(Provider.STRIPE)
    payment = world.start().payment
    forged = _event("evt_forged", payment)
    with pytest.raises(InvalidSignature):
        _webhook(world, forged, "0" * 64)
    assert world.invoice().amount_paid.minor == 0
    payload = _event("evt_1", payment)
    assert _webhook(world, payload, world.stripe.sign(payload)).applied
    replay = _webhook(world, payload, world.stripe.sign(payload))
    assert replay.duplicate and not replay.applied
    other = _event("evt_2", payment)  # a different event about the same, already credited, payment
    assert not _webhook(world, other, world.stripe.sign(other)).applied
    assert world.invoice().amount_paid == world.invoice().total


def test_a_webhook_for_a_provider_not_connected_is_refused() -> None:
    world = make_world()
    with pytest.raises(PaymentsNotConfigured):
        _webhook(world, b"{}", "x")


# ---- connecting providers


def test_credentials_are_stored_encrypted_and_shown_by_their_last_four_characters() -> None:
    world = make_world()
    world.connect(Provider.STRIPE, Provider.TELR)
    with world.uow:
        sealed = [c.sealed_credentials for c in world.uow.payment_providers.list()]
    assert all("sk_test" not in s and "telr-auth" not in s and "whsec" not in s for s in sealed)
    shown = {s.provider: dict(s.shown) for s in payment_providers.provider_status(world.uow, vault=world.vault)}
    assert shown[Provider.STRIPE] == {"secret_key": "…3456", "webhook_secret": "…9876"}
    assert shown[Provider.TELR] == {"store_id": "12345", "auth_key": "…4321", "test_mode": "1"}
    assert payment_providers.disconnect_provider(world.uow, clock=world.clock, randomness=world.randomness,
                                                 provider=Provider.TELR)
    assert payment_providers.connected_providers(world.uow) == (Provider.STRIPE,)
    assert not payment_providers.disconnect_provider(world.uow, clock=world.clock, randomness=world.randomness,
                                                     provider=Provider.TELR)


@pytest.mark.parametrize("provider,credentials", [
    (Provider.STRIPE, {"secret_key": "pk_test_1", "webhook_secret": "whsec_1"}),
    (Provider.STRIPE, {"secret_key": "sk_test_1", "webhook_secret": "secret"}),
    (Provider.TELR, {"store_id": "abc", "auth_key": "k", "test_mode": "0"}),
    (Provider.TELR, {"store_id": "1", "auth_key": "", "test_mode": "0"}),
])
def test_malformed_credentials_are_refused(provider: Provider, credentials: dict[str, str]) -> None:
    """The shape of a provider's keys is its adapter's knowledge (the core knows only which fields there are)."""
    world = make_world()
    check = {Provider.STRIPE: StripePaymentGateway.check_credentials,
             Provider.TELR: TelrPaymentGateway.check_credentials}[provider]
    with pytest.raises(InvalidInput):
        payment_providers.connect_provider(world.uow, vault=world.vault, clock=world.clock, randomness=world.randomness,
                                           provider=provider, credentials=credentials, check=check)
    assert payment_providers.connected_providers(world.uow) == ()


@pytest.mark.parametrize("provider,credentials", [
    (Provider.STRIPE, {"secret_key": "sk_test_1"}),
    (Provider.TELR, {"store_id": "1", "auth_key": "k", "test_mode": "0", "extra": "x"}),
])
def test_credentials_without_the_providers_fields_are_refused_by_the_core(provider: Provider,
                                                                          credentials: dict[str, str]) -> None:
    world = make_world()
    with pytest.raises(InvalidInput, match="needs exactly"):
        payment_providers.connect_provider(world.uow, vault=world.vault, clock=world.clock, randomness=world.randomness,
                                           provider=provider, credentials=credentials)
    assert payment_providers.connected_providers(world.uow) == ()


def test_the_vault_round_trips_and_a_different_key_cannot_read_it() -> None:
    vault = FernetCredentialVault.from_secret(SECRET)
    sealed = vault.seal(b"sk_live_secret")
    assert vault.open(sealed) == b"sk_live_secret" and b"sk_live" not in sealed.encode()
    with pytest.raises(CredentialsUnreadable):
        FernetCredentialVault.from_secret(SECRET + "x").open(sealed)
    assert "secret" not in repr(vault).lower().replace("key hidden", "")
