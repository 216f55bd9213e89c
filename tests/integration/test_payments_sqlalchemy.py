"""Payments on SQLite and PostgreSQL: mappers round-trip, the database refuses double credit, parallel duplicate
confirmations (the same event, or different events about the same payment) credit the invoice once, and Pay Now
hands out the one open attempt (parallel clicks included)."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import TypeVar

import pytest
import sqlalchemy as sa

from adapters.crypto import FernetCredentialVault
from adapters.jinja import JinjaEmailTemplates
from adapters.memory import FixedClock, InMemoryPaymentGateway, SeededRandomness
from adapters.memory.payments import SIGNATURE_HEADER
from adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWork
from adapters.system import SecretsRandomness
from portal_core import ledger, payment_providers, payments
from portal_core.errors import Conflict
from portal_core.model.business import Business
from portal_core.model.company import Company
from portal_core.model.contact import Contact
from portal_core.model.documents import Invoice, InvoiceStatus, Line
from portal_core.model.money import Money
from portal_core.model.payment import (
    Checkout,
    CheckoutRequest,
    OutcomeKind,
    Payment,
    PaymentOutcome,
    PaymentStatus,
    Provider,
    ProviderConnection,
)
from portal_core.sign_in import Viewer

NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
PARALLEL = 8
T = TypeVar("T")


def _world(uow: SqlAlchemyUnitOfWork) -> tuple[Invoice, Payment]:
    randomness = SeededRandomness(7)
    company = Company(id="c" * 16, name="Globex LLC", link_token="t" * 32, portal_enabled=True)
    contact = Contact(id="k" * 16, company_id=company.id, name="Homer Simpson", email="homer@globex.example")
    invoice = Invoice(id="i" * 16, company_id=company.id, number="INV-2001", status=InvoiceStatus.SENT,
                      currency="AED", issued_date=dt.date(2026, 10, 1), due_date=dt.date(2026, 10, 31),
                      lines=(Line("Labour", Decimal(3), Money.parse("120.00", "AED")),),
                      tax=Money.parse("18.00", "AED"), amount_paid=Money.zero("AED"))
    payment = Payment.start(id="p" * 16, invoice_id=invoice.id, company_id=company.id, contact_id=contact.id,
                            provider=Provider.STRIPE, amount=invoice.outstanding,
                            attempt_key=randomness.token(18), now=NOW, lifetime=payments.ATTEMPT_LIFETIME)
    payment.provider_ref = "cs_test_parallel"
    payment.checkout_url = "https://checkout.stripe.test/c/pay/cs_test_parallel"
    with uow:
        uow.business.save(Business(name="Falcon Facilities", email="office@falcon.example"))
        uow.companies.add(company)
        uow.contacts.add(contact)
        uow.invoices.add(invoice)
        uow.payments.add(payment)
        uow.commit()
    return invoice, payment


def test_payment_and_connection_mappers_round_trip(uow: SqlAlchemyUnitOfWork) -> None:
    invoice, payment = _world(uow)
    payment.close(PaymentStatus.MISMATCH, NOW + dt.timedelta(minutes=5), note="provider reported AED 1")
    payment.received_minor, payment.received_currency = 100, "AED"
    connection = ProviderConnection(provider=Provider.TELR, sealed_credentials="gAAAA-sealed",
                                    connected_at=NOW)
    with uow:
        uow.payments.update(payment)
        uow.payment_providers.save(connection)
        uow.commit()
    with uow:
        assert uow.payments.get(payment.id) == payment
        assert payment.expires_at == NOW + dt.timedelta(hours=1) and payment.checkout_url is not None
        assert uow.payments.get_by_provider_ref(Provider.STRIPE, "cs_test_parallel") == payment
        assert uow.payments.get_by_provider_ref(Provider.TELR, "cs_test_parallel") is None
        assert uow.payments.list_for_invoice(invoice.id) == [payment]
        assert uow.payments.list_pending() == []
        assert uow.payment_providers.list() == [connection]
        uow.payment_providers.remove(Provider.TELR)
        assert uow.payment_providers.get(Provider.TELR) is None
        locked = uow.invoices.get_for_update(invoice.id)
        assert locked is not None and locked.total == invoice.total


def test_the_database_refuses_a_second_payment_with_the_same_provider_ref(uow: SqlAlchemyUnitOfWork) -> None:
    invoice, payment = _world(uow)
    twin = Payment.start(id="q" * 16, invoice_id=invoice.id, company_id=invoice.company_id, contact_id=None,
                         provider=Provider.STRIPE, amount=payment.amount, attempt_key="another-key", now=NOW,
                         lifetime=payments.ATTEMPT_LIFETIME)
    twin.provider_ref = payment.provider_ref
    with uow, pytest.raises(Conflict):
        uow.payments.add(twin)


def test_an_event_id_is_recorded_once(uow: SqlAlchemyUnitOfWork) -> None:
    with uow:
        assert uow.processed_events.record(Provider.STRIPE, "evt_1", NOW)
        assert not uow.processed_events.record(Provider.STRIPE, "evt_1", NOW)
        assert uow.processed_events.record(Provider.TELR, "evt_1", NOW)  # another provider's id space
        uow.commit()
    with uow:
        assert not uow.processed_events.record(Provider.STRIPE, "evt_1", NOW)


def _in_parallel(job: Callable[[int], T]) -> list[T]:
    barrier = threading.Barrier(PARALLEL)

    def run(index: int) -> T:
        barrier.wait(10)
        return job(index)

    with ThreadPoolExecutor(PARALLEL) as pool:
        return list(pool.map(run, range(PARALLEL)))


def _after(engine: sa.Engine, invoice: Invoice, payment: Payment) -> tuple[Invoice, Payment]:
    uow = SqlAlchemyUnitOfWork(engine)
    with uow:
        found_invoice, found_payment = uow.invoices.get(invoice.id), uow.payments.get(payment.id)
    assert found_invoice is not None and found_payment is not None
    return found_invoice, found_payment


def test_parallel_duplicate_confirmations_credit_once(engine: sa.Engine) -> None:
    invoice, payment = _world(SqlAlchemyUnitOfWork(engine))
    outcome = PaymentOutcome(provider_ref="cs_test_parallel", kind=OutcomeKind.PAID, paid_minor=37800,
                             paid_currency="AED")

    def confirm(_index: int) -> ledger.Confirmation:
        return ledger.confirm_payment(SqlAlchemyUnitOfWork(engine), clock=FixedClock(NOW),
                                      randomness=SecretsRandomness(), templates=JinjaEmailTemplates(),
                                      provider=Provider.STRIPE, outcome=outcome, source="parallel test")

    results = _in_parallel(confirm)
    assert sum(r.applied for r in results) == 1
    assert sum(len(r.receipts) for r in results) == 1
    after_invoice, after_payment = _after(engine, invoice, payment)
    assert after_invoice.amount_paid == Money(37800, "AED") and after_invoice.status == InvoiceStatus.PAID
    assert after_payment.status == PaymentStatus.SUCCEEDED


@pytest.mark.parametrize("same_event", [True, False])
def test_parallel_webhooks_credit_once(engine: sa.Engine, same_event: bool) -> None:
    invoice, payment = _world(SqlAlchemyUnitOfWork(engine))
    gateway = InMemoryPaymentGateway(name="stripe")
    vault = FernetCredentialVault.from_secret("parallel-test-secret-key")
    payment_providers.connect_provider(SqlAlchemyUnitOfWork(engine), vault=vault, clock=FixedClock(NOW),
                                       randomness=SecretsRandomness(), provider=Provider.STRIPE,
                                       credentials={"secret_key": "sk_test_1234", "webhook_secret": "whsec_1234"})

    def deliver(index: int) -> ledger.Confirmation:
        payload = json.dumps({"id": "evt_same" if same_event else f"evt_{index}", "ref": "cs_test_parallel",
                              "kind": "paid", "paid_minor": 37800, "paid_currency": "AED"}).encode()
        return ledger.handle_webhook(SqlAlchemyUnitOfWork(engine), gateways={Provider.STRIPE: gateway.factory},
                                     vault=vault, clock=FixedClock(NOW), randomness=SecretsRandomness(),
                                     templates=JinjaEmailTemplates(), provider=Provider.STRIPE, payload=payload,
                                     headers={SIGNATURE_HEADER: gateway.sign(payload)})

    results = _in_parallel(deliver)
    assert sum(r.applied for r in results) == 1
    if same_event:
        assert sum(r.duplicate for r in results) == PARALLEL - 1
    after_invoice, after_payment = _after(engine, invoice, payment)
    assert after_invoice.amount_paid == Money(37800, "AED") and after_payment.status == PaymentStatus.SUCCEEDED


# ---- Pay Now: one open attempt at a time


class _SlowGateway(InMemoryPaymentGateway):
    """A provider that takes a while to open its page: parallel clicks that did not wait for each other would each
    open one."""

    def __init__(self) -> None:
        super().__init__(name="stripe")
        self.lock = threading.Lock()

    def start_checkout(self, request: CheckoutRequest) -> Checkout:
        time.sleep(0.1)
        with self.lock:
            return super().start_checkout(request)


def _pay_now(engine: sa.Engine, gateway: InMemoryPaymentGateway, vault: FernetCredentialVault, clock: FixedClock,
             viewer: Viewer, invoice: Invoice) -> payments.StartedPayment:
    urls = payments.ReturnUrls(success="https://portal.test/paid", cancel="https://portal.test/cancelled",
                               declined="https://portal.test/cancelled")
    return payments.start_payment(SqlAlchemyUnitOfWork(engine), gateways={Provider.STRIPE: gateway.factory},
                                  vault=vault, clock=clock, randomness=SecretsRandomness(),
                                  templates=JinjaEmailTemplates(), viewer=viewer,
                                  invoice_id=invoice.id, provider=None, urls=urls)


def _pay_now_world(engine: sa.Engine) -> tuple[Invoice, Payment, Viewer, FernetCredentialVault]:
    invoice, payment = _world(SqlAlchemyUnitOfWork(engine))
    vault = FernetCredentialVault.from_secret("pay-now-test-secret-key")
    payment_providers.connect_provider(SqlAlchemyUnitOfWork(engine), vault=vault, clock=FixedClock(NOW),
                                       randomness=SecretsRandomness(), provider=Provider.STRIPE,
                                       credentials={"secret_key": "sk_test_1234", "webhook_secret": "whsec_1234"})
    with SqlAlchemyUnitOfWork(engine) as uow:
        company, contact = uow.companies.get("c" * 16), uow.contacts.get("k" * 16)
    assert company is not None and contact is not None
    return invoice, payment, Viewer(company=company, contact=contact, session_id="s"), vault


def test_pay_now_hands_out_the_open_attempt_stored_in_the_database(engine: sa.Engine) -> None:
    invoice, payment, viewer, vault = _pay_now_world(engine)
    gateway = InMemoryPaymentGateway(name="stripe")
    clock = FixedClock(NOW + dt.timedelta(minutes=49))
    again = _pay_now(engine, gateway, vault, clock, viewer, invoice)
    assert (again.payment.id, again.url) == (payment.id, payment.checkout_url) and gateway.checkouts == []
    clock.advance(minutes=1)  # ten minutes left on that page: no longer handed out
    fresh = _pay_now(engine, gateway, vault, clock, viewer, invoice)
    assert fresh.payment.id != payment.id and len(gateway.checkouts) == 1
    assert gateway.checkouts[0].expires_at == clock.now() + dt.timedelta(hours=1)
    with SqlAlchemyUnitOfWork(engine) as uow:
        stored = uow.payments.get(fresh.payment.id)
        assert [p.id for p in uow.payments.list_pending()] == [payment.id, fresh.payment.id]
    assert stored is not None and stored.checkout_url == fresh.url
    assert stored.expires_at == clock.now() + dt.timedelta(hours=1)
    assert _pay_now(engine, gateway, vault, clock, viewer, invoice).url == fresh.url


def test_parallel_pay_now_clicks_open_one_attempt(engine: sa.Engine) -> None:
    invoice, payment, viewer, vault = _pay_now_world(engine)
    gateway = _SlowGateway()
    clock = FixedClock(NOW + dt.timedelta(hours=1))  # the attempt made by _world is over: one new one is needed

    def click(_index: int) -> payments.StartedPayment:
        return _pay_now(engine, gateway, vault, clock, viewer, invoice)

    results = _in_parallel(click)
    assert len(gateway.checkouts) == 1
    assert len({r.url for r in results}) == 1 and len({r.payment.id for r in results}) == 1
    with SqlAlchemyUnitOfWork(engine) as uow:
        attempts = uow.payments.list_for_invoice(invoice.id)
        actions = [e.action for e in uow.audit.list_for_company(invoice.company_id)]
    assert [p.id for p in attempts] == [payment.id, results[0].payment.id]
    assert actions.count("payment_started") == 1 and actions.count("payment_checkout_opened") == 1
