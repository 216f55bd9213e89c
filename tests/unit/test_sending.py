"""Sending invoices and quotes, overdue reminders and voiding, on the in-memory adapters."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.jinja import JinjaEmailTemplates
from adapters.memory import FixedClock, InMemoryStore, InMemoryUnitOfWork, RecordingEmailSender, SeededRandomness
from portal_core import companies, invoices, ledger, outbox, policy, sending
from portal_core.errors import DeliveryFailed, InvalidTransition, UnknownCompany, UnknownRecord
from portal_core.ids import new_id
from portal_core.model.business import Business
from portal_core.model.company import Company
from portal_core.model.contact import Contact
from portal_core.model.documents import Invoice, InvoiceStatus, Line, Quote, QuoteStatus
from portal_core.model.mail import DocumentKind, DocumentNotice, Email, Notice, OverdueReminder
from portal_core.model.money import Money
from portal_core.model.outbox import OutboxMessage, OutboxStatus
from portal_core.model.payment import OutcomeKind, Payment, PaymentOutcome, PaymentStatus, Provider

START = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
TODAY = START.date()
BASE = "https://portal.example"
PENDING, SENT, FAILED = OutboxStatus.PENDING, OutboxStatus.SENT, OutboxStatus.FAILED


class RecordingTemplates:
    """Keeps every notice it is asked to render, so tests read what the core wanted to say."""

    def __init__(self) -> None:
        self.notices: list[tuple[str, Notice]] = []

    def render(self, notice: Notice, to: str) -> Email:
        self.notices.append((to, notice))
        return Email(to=to, subject=type(notice).__name__, text=repr(notice), html="<p></p>")

    def to(self, address: str) -> list[Notice]:
        return [n for to, n in self.notices if to == address]


class PickySender(RecordingEmailSender):
    """A relay that refuses some recipients."""

    def __init__(self, refuse: set[str] | None = None) -> None:
        super().__init__()
        self.refuse = refuse or set()

    def send(self, email: Email) -> None:
        if email.to in self.refuse:
            raise DeliveryFailed("the mail relay did not accept the message (SMTPRecipientsRefused)")
        super().send(email)


@attrs.define
class World:
    uow: InMemoryUnitOfWork
    clock: FixedClock
    randomness: SeededRandomness
    sender: PickySender
    templates: RecordingTemplates
    company: Company
    homer: Contact
    marge: Contact

    def add_company(self, name: str, *, enabled: bool = True) -> Company:
        company = Company(id=new_id(self.randomness), name=name, ref=name.lower(), portal_enabled=enabled,
                          link_token=companies.new_link_token(self.randomness))
        with self.uow:
            self.uow.companies.add(company)
            self.uow.commit()
        return company

    def invoice(self, ref: str, *, status: InvoiceStatus = InvoiceStatus.DRAFT, company: Company | None = None,
                issued: dt.date | None = None, due: dt.date | None = None, paid: str = "0.00",
                price: str = "350.00", tax: str = "28.00") -> Invoice:
        invoice = Invoice(id=new_id(self.randomness), company_id=(company or self.company).id, number=ref.upper(),
                          status=status, currency="AED", issued_date=issued, due_date=due,
                          lines=(Line("Service", Decimal(1), Money.parse(price, "AED")),),
                          tax=Money.parse(tax, "AED"), amount_paid=Money.parse(paid, "AED"), ref=ref)
        with self.uow:
            self.uow.invoices.add(invoice)
            self.uow.commit()
        return invoice

    def quote(self, ref: str, *, status: QuoteStatus = QuoteStatus.DRAFT, valid_until: dt.date | None = None,
              issued: dt.date | None = None) -> Quote:
        quote = Quote(id=new_id(self.randomness), company_id=self.company.id, number=ref.upper(), status=status,
                      currency="AED", issued_date=issued, valid_until=valid_until,
                      lines=(Line("Chiller", Decimal(2), Money.parse("450.00", "AED")),), ref=ref)
        with self.uow:
            self.uow.quotes.add(quote)
            self.uow.commit()
        return quote

    def get_invoice(self, ref: str) -> Invoice:
        with self.uow:
            found = self.uow.invoices.get_by_ref(ref)
        assert found is not None
        return found

    def get_quote(self, ref: str) -> Quote:
        with self.uow:
            found = self.uow.quotes.get_by_ref(ref)
        assert found is not None
        return found

    def send_invoice(self, ref: str) -> sending.SendOutcome:
        return sending.send_invoice(self.uow, sender=self.sender, templates=self.templates, clock=self.clock,
                                    randomness=self.randomness, base_url=BASE, ref=ref)

    def send_quote(self, ref: str) -> sending.SendOutcome:
        return sending.send_quote(self.uow, sender=self.sender, templates=self.templates, clock=self.clock,
                                  randomness=self.randomness, base_url=BASE, ref=ref)

    def remind(self, company: str | None = None) -> sending.RemindReport:
        return sending.remind_overdue(self.uow, sender=self.sender, templates=self.templates, clock=self.clock,
                                      randomness=self.randomness, base_url=BASE, company_key=company)

    def void(self, ref: str) -> invoices.VoidOutcome:
        return invoices.void_invoice(self.uow, clock=self.clock, randomness=self.randomness, ref=ref)

    def set_access(self, enabled: bool) -> None:
        companies.set_portal_access(self.uow, self.company.name, enabled=enabled)
        self.company = attrs.evolve(self.company, portal_enabled=enabled)

    def dispatch(self) -> list[outbox.Attempt]:
        """A dispatcher's round: sends whatever in the outbox is due now."""
        return outbox.dispatch(self.uow, sender=self.sender, clock=self.clock, randomness=self.randomness)

    def mail_status(self) -> dict[OutboxStatus, int]:
        return outbox.mail_status(self.uow)

    def latest_about(self, subject_ref: str) -> OutboxMessage:
        with self.uow:
            message = self.uow.outbox.latest_about(subject_ref)
        assert message is not None
        return message

    def audit(self) -> list[tuple[str, str | None, str]]:
        with self.uow:
            entries = self.uow.audit.list_for_company(self.company.id, limit=1000)
        return [(e.action, e.contact_id, e.detail) for e in reversed(entries)]

    def sign_in_link(self) -> str:
        return f"{BASE}/p/{self.company.link_token}/login"


def make_world(seed: int = 0) -> World:
    uow = InMemoryUnitOfWork(InMemoryStore())
    randomness = SeededRandomness(seed)
    with uow:
        uow.business.save(Business(name="Falcon Facilities", email="office@falcon.example"))
        uow.commit()
    company = Company(id=new_id(randomness), name="Globex LLC", ref="globex", portal_enabled=True,
                      link_token=companies.new_link_token(randomness))
    with uow:
        uow.companies.add(company)
        uow.commit()
    homer = companies.add_contact(uow, randomness=randomness, company_key="Globex LLC", name="Homer Simpson",
                                  email="homer@globex.example")
    marge = companies.add_contact(uow, randomness=randomness, company_key="Globex LLC", name="Marge Simpson",
                                  email="marge@globex.example")
    return World(uow=uow, clock=FixedClock(START), randomness=randomness, sender=PickySender(),
                 templates=RecordingTemplates(), company=company, homer=homer, marge=marge)


@pytest.fixture
def world() -> World:
    return make_world()


def _document_notices(world: World, address: str) -> list[DocumentNotice]:
    return [n for n in world.templates.to(address) if isinstance(n, DocumentNotice)]


def _reminders(world: World, address: str) -> list[OverdueReminder]:
    return [n for n in world.templates.to(address) if isinstance(n, OverdueReminder)]


# ---- sending an invoice


def test_a_draft_invoice_becomes_sent_visible_and_every_contact_is_told(world: World) -> None:
    world.invoice("i1", due=TODAY + dt.timedelta(days=30))
    assert not policy.is_client_visible(world.get_invoice("i1"))

    outcome = world.send_invoice("i1")

    invoice = world.get_invoice("i1")
    assert outcome.changed and outcome.document == invoice
    assert invoice.status == InvoiceStatus.SENT and invoice.issued_date == TODAY
    assert policy.is_client_visible(invoice) and policy.can_pay(world.company, world.homer, invoice)
    assert [d.email for d in outcome.deliveries] == ["homer@globex.example", "marge@globex.example"]
    assert all(d.delivered for d in outcome.deliveries) and outcome.failures == ()
    assert [e.to for e in world.sender.outbox] == ["homer@globex.example", "marge@globex.example"]
    [notice] = _document_notices(world, "homer@globex.example")
    assert notice.kind == DocumentKind.INVOICE and notice.number == "I1" and not notice.reminder
    assert str(notice.total) == "AED 378.00" and str(notice.outstanding) == "AED 378.00"
    assert notice.due_date == TODAY + dt.timedelta(days=30) and notice.issued_date == TODAY
    assert notice.portal_link == outcome.portal_link == world.sign_in_link()
    assert notice.contact_name == "Homer Simpson" and notice.company_name == "Globex LLC"


def test_each_notice_is_audited_without_the_address(world: World) -> None:
    world.invoice("i1")
    world.send_invoice("i1")
    assert sorted(world.audit(), key=repr) == sorted([("invoice_sent", None, "invoice I1"),
                                                      ("invoice_notice_sent", world.homer.id, "invoice I1"),
                                                      ("invoice_notice_sent", world.marge.id, "invoice I1")], key=repr)
    assert not any("@" in detail for _, _, detail in world.audit())


def test_an_issue_date_already_set_is_kept(world: World) -> None:
    world.invoice("i1", issued=TODAY - dt.timedelta(days=3), due=TODAY + dt.timedelta(days=10))
    world.send_invoice("i1")
    assert world.get_invoice("i1").issued_date == TODAY - dt.timedelta(days=3)


def test_a_draft_due_before_today_is_refused_and_left_alone(world: World) -> None:
    world.invoice("i1", due=TODAY - dt.timedelta(days=1))
    with pytest.raises(InvalidTransition, match=r"^invoice I1 is due 30 Nov 2026, before its issue date 1 Dec 2026"):
        world.send_invoice("i1")
    assert world.get_invoice("i1").status == InvoiceStatus.DRAFT
    assert world.sender.outbox == [] and world.audit() == []


@pytest.mark.parametrize("status", [InvoiceStatus.SENT, InvoiceStatus.PARTIALLY_PAID])
def test_resending_repeats_the_notice_without_changing_the_invoice(world: World, status: InvoiceStatus) -> None:
    before = world.invoice("i1", status=status, issued=TODAY - dt.timedelta(days=5), due=TODAY + dt.timedelta(days=9),
                           paid="100.00" if status == InvoiceStatus.PARTIALLY_PAID else "0.00")
    outcome = world.send_invoice("i1")
    assert not outcome.changed and world.get_invoice("i1") == before
    [notice] = _document_notices(world, "marge@globex.example")
    assert notice.reminder and notice.outstanding == before.outstanding
    assert [a for a, _, _ in world.audit()] == ["invoice_notice_sent", "invoice_notice_sent"]
    assert {d for _, _, d in world.audit()} == {"invoice I1 again"}


@pytest.mark.parametrize(("status", "message"), [
    (InvoiceStatus.VOID, "invoice I1 is void: it cannot be sent"),
    (InvoiceStatus.PAID, "invoice I1 is paid in full: there is nothing to send"),
])
def test_void_and_paid_invoices_are_not_sent(world: World, status: InvoiceStatus, message: str) -> None:
    world.invoice("i1", status=status, issued=TODAY, paid="378.00" if status == InvoiceStatus.PAID else "0.00")
    with pytest.raises(InvalidTransition) as raised:
        world.send_invoice("i1")
    assert str(raised.value).startswith(message) and "\n" not in str(raised.value)
    assert world.get_invoice("i1").status == status and world.sender.outbox == []


def test_an_unknown_ref_is_refused(world: World) -> None:
    with pytest.raises(UnknownRecord, match="no invoice with ref or id 'nope'"):
        world.send_invoice("nope")
    with pytest.raises(UnknownRecord, match="no quote"):
        world.send_quote("nope")


def test_the_public_id_works_as_well_as_the_ref(world: World) -> None:
    invoice = world.invoice("i1")
    assert world.send_invoice(invoice.id).document.status == InvoiceStatus.SENT


def test_with_portal_access_disabled_the_invoice_is_sent_but_the_notice_has_no_link(world: World) -> None:
    world.invoice("i1")
    world.set_access(False)
    outcome = world.send_invoice("i1")
    assert world.get_invoice("i1").status == InvoiceStatus.SENT
    assert outcome.portal_link is None
    assert [n.portal_link for n in _document_notices(world, "homer@globex.example")] == [None]
    assert len(world.sender.outbox) == 2
    assert {d for a, _, d in world.audit() if a == "invoice_notice_sent"} == {
        "invoice I1 (no portal link: portal access is off)"}


def test_a_failing_contact_does_not_stop_the_others_nor_undo_the_send(world: World) -> None:
    world.invoice("i1")
    world.sender.refuse = {"homer@globex.example"}
    outcome = world.send_invoice("i1")
    assert world.get_invoice("i1").status == InvoiceStatus.SENT
    assert [(d.contact_name, d.delivered) for d in outcome.deliveries] == [("Homer Simpson", False),
                                                                           ("Marge Simpson", True)]
    assert "SMTPRecipientsRefused" in (outcome.failures[0].problem or "")
    assert [e.to for e in world.sender.outbox] == ["marge@globex.example"]
    assert {(a, c) for a, c, _ in world.audit()} == {("invoice_sent", None),
                                                     ("invoice_notice_failed", world.homer.id),
                                                     ("invoice_notice_sent", world.marge.id)}


def test_a_notice_that_reached_nobody_stays_queued_and_still_holds_the_next_one_back(world: World) -> None:
    world.invoice("i1")
    world.sender.refuse = {"homer@globex.example", "marge@globex.example"}
    first = world.send_invoice("i1")
    assert first.changed and [d.delivered for d in first.deliveries] == [False, False]
    assert world.sender.outbox == [] and world.mail_status() == {PENDING: 2, SENT: 0, FAILED: 0}
    message = world.latest_about(f"invoice:{first.document.id}")
    assert message.attempts == 1 and "SMTPRecipientsRefused" in message.last_error
    assert message.next_attempt_at == START + dt.timedelta(seconds=10)  # retried with backoff
    world.sender.refuse = set()
    again = world.send_invoice("i1")  # the queued notice will still reach them: no second one today
    assert again.held_back_until == START + sending.REMIND_EVERY and again.deliveries == ()
    assert world.sender.outbox == [] and world.dispatch() == []  # not due yet
    world.clock.advance(seconds=10)
    assert [a.delivered for a in world.dispatch()] == [True, True]
    assert sorted(e.to for e in world.sender.outbox) == ["homer@globex.example", "marge@globex.example"]
    assert world.mail_status() == {PENDING: 0, SENT: 2, FAILED: 0}
    assert sorted(world.audit(), key=repr) == sorted([
        ("invoice_sent", None, "invoice I1"),
        ("invoice_notice_failed", world.homer.id, f"invoice I1: {message.last_error}"),
        ("invoice_notice_failed", world.marge.id, f"invoice I1: {message.last_error}"),
        ("invoice_notice_sent", world.homer.id, "invoice I1"),
        ("invoice_notice_sent", world.marge.id, "invoice I1")], key=repr)


def test_a_company_without_contacts_still_gets_its_invoice_sent(world: World) -> None:
    lonely = world.add_company("Initech")
    world.invoice("i9", company=lonely)
    outcome = world.send_invoice("i9")
    assert outcome.changed and outcome.deliveries == () and world.sender.outbox == []


# ---- sending a quote


def test_a_draft_quote_becomes_sent_and_contacts_are_told(world: World) -> None:
    world.quote("q1", valid_until=TODAY + dt.timedelta(days=14))
    outcome = world.send_quote("q1")
    quote = world.get_quote("q1")
    assert outcome.changed and quote.status == QuoteStatus.SENT and quote.issued_date == TODAY
    assert policy.is_client_visible(quote)
    [notice] = _document_notices(world, "homer@globex.example")
    assert notice.kind == DocumentKind.QUOTE and str(notice.total) == "AED 900.00" and notice.outstanding is None
    assert notice.valid_until == TODAY + dt.timedelta(days=14) and notice.portal_link == world.sign_in_link()
    assert [a for a, _, _ in world.audit()] == ["quote_sent", "quote_notice_sent", "quote_notice_sent"]


@pytest.mark.parametrize("status", [QuoteStatus.ACCEPTED, QuoteStatus.DECLINED, QuoteStatus.EXPIRED])
def test_closed_quotes_are_not_sent(world: World, status: QuoteStatus) -> None:
    world.quote("q1", status=status, issued=TODAY - dt.timedelta(days=3))
    with pytest.raises(InvalidTransition, match=f"^quote Q1 is {status.value}: it cannot be sent$"):
        world.send_quote("q1")
    assert world.sender.outbox == []


@pytest.mark.parametrize("status", [QuoteStatus.DRAFT, QuoteStatus.SENT])
def test_a_quote_past_its_valid_until_date_is_not_sent(world: World, status: QuoteStatus) -> None:
    world.quote("q1", status=status, issued=TODAY - dt.timedelta(days=30), valid_until=TODAY - dt.timedelta(days=1))
    with pytest.raises(InvalidTransition, match="^quote Q1 was valid until 30 Nov 2026"):
        world.send_quote("q1")
    assert world.get_quote("q1").status == status


def test_resending_a_sent_quote_repeats_the_notice_once_a_day(world: World) -> None:
    before = world.quote("q1", status=QuoteStatus.SENT, issued=TODAY, valid_until=TODAY + dt.timedelta(days=9))
    assert not world.send_quote("q1").changed and world.get_quote("q1") == before
    assert world.send_quote("q1").held_back_until == START + sending.REMIND_EVERY
    assert len(world.sender.outbox) == 2


# ---- reminders


def _overdue_world(world: World) -> None:
    world.invoice("late", status=InvoiceStatus.SENT, issued=TODAY - dt.timedelta(days=40),
                  due=TODAY - dt.timedelta(days=10))
    world.invoice("later", status=InvoiceStatus.PARTIALLY_PAID, issued=TODAY - dt.timedelta(days=50),
                  due=TODAY - dt.timedelta(days=1), paid="100.00")
    world.invoice("not-yet", status=InvoiceStatus.SENT, issued=TODAY, due=TODAY + dt.timedelta(days=5))
    world.invoice("draft", due=None)
    world.invoice("void", status=InvoiceStatus.VOID, issued=TODAY - dt.timedelta(days=40),
                  due=TODAY - dt.timedelta(days=10))
    world.invoice("paid", status=InvoiceStatus.PAID, issued=TODAY - dt.timedelta(days=40),
                  due=TODAY - dt.timedelta(days=10), paid="378.00")


def test_one_reminder_per_contact_lists_the_overdue_invoices_and_what_is_left(world: World) -> None:
    _overdue_world(world)
    report = world.remind()
    [globex] = report.companies
    assert [i.number for i in globex.invoices] == ["LATE", "LATER"]
    assert [d.email for d in globex.deliveries] == ["homer@globex.example", "marge@globex.example"]
    assert len(world.sender.outbox) == 2
    [reminder] = _reminders(world, "homer@globex.example")
    assert [(line.number, str(line.outstanding), line.days_overdue) for line in reminder.invoices] == [
        ("LATE", "AED 378.00", 10), ("LATER", "AED 278.00", 1)]
    assert reminder.portal_link == world.sign_in_link()
    assert {entry for entry in world.audit() if entry[0].startswith("overdue")} == {
        ("overdue_reminder_sent", world.homer.id, "overdue invoices LATE, LATER"),
        ("overdue_reminder_sent", world.marge.id, "overdue invoices LATE, LATER")}


def test_at_most_one_reminder_per_invoice_per_24_hours(world: World) -> None:
    _overdue_world(world)
    world.remind()
    assert len(world.sender.outbox) == 2

    world.clock.advance(hours=23, minutes=59)
    report = world.remind()
    assert report.companies[0].invoices == () and len(world.sender.outbox) == 2
    assert [(i.number, until) for i, until in report.companies[0].held_back] == [
        ("LATE", START + dt.timedelta(hours=24)), ("LATER", START + dt.timedelta(hours=24))]

    world.clock.advance(minutes=1)
    report = world.remind()
    assert [i.number for i in report.companies[0].invoices] == ["LATE", "LATER"]
    assert len(world.sender.outbox) == 4


def test_a_resent_invoice_is_not_reminded_again_the_same_day_and_vice_versa(world: World) -> None:
    _overdue_world(world)
    world.send_invoice("late")
    report = world.remind()
    assert [i.number for i in report.companies[0].invoices] == ["LATER"]
    assert world.send_invoice("later").held_back_until == START + sending.REMIND_EVERY


def test_reminders_for_one_company_only(world: World) -> None:
    _overdue_world(world)
    initech = world.add_company("Initech")
    companies.add_contact(world.uow, randomness=world.randomness, company_key="Initech", name="Peter",
                          email="peter@initech.example")
    world.invoice("init-late", company=initech, status=InvoiceStatus.SENT, issued=TODAY - dt.timedelta(days=40),
                  due=TODAY - dt.timedelta(days=2))
    report = world.remind("initech")
    assert [(c.company_name, [i.number for i in c.invoices]) for c in report.companies] == [
        ("Initech", ["INIT-LATE"])]
    assert [e.to for e in world.sender.outbox] == ["peter@initech.example"]
    with pytest.raises(UnknownCompany):
        world.remind("nobody")


def test_a_reminder_with_portal_access_disabled_carries_no_link(world: World) -> None:
    _overdue_world(world)
    world.set_access(False)
    report = world.remind()
    assert report.companies[0].portal_link is None
    assert [r.portal_link for r in _reminders(world, "marge@globex.example")] == [None]


def test_a_failing_contact_does_not_stop_the_other_reminders(world: World) -> None:
    _overdue_world(world)
    world.sender.refuse = {"homer@globex.example"}
    report = world.remind()
    assert [d.delivered for d in report.companies[0].deliveries] == [False, True]
    assert [d.contact_name for d in report.failures] == ["Homer Simpson"]
    world.sender.refuse = set()
    assert world.remind().companies[0].invoices == ()  # Marge got it: the day's reminder is spent


def test_a_reminder_that_reached_nobody_stays_queued_and_is_not_sent_twice(world: World) -> None:
    _overdue_world(world)
    world.sender.refuse = {"homer@globex.example", "marge@globex.example"}
    report = world.remind()
    assert [d.delivered for d in report.companies[0].deliveries] == [False, False]
    assert world.sender.outbox == [] and world.mail_status() == {PENDING: 2, SENT: 0, FAILED: 0}
    world.sender.refuse = set()
    again = world.remind().companies[0]  # the queued reminder will still reach them: no second one today
    assert again.invoices == () and again.deliveries == ()
    assert [(i.number, until) for i, until in again.held_back] == [
        ("LATE", START + sending.REMIND_EVERY), ("LATER", START + sending.REMIND_EVERY)]
    assert world.sender.outbox == [] and world.dispatch() == []  # not due yet
    world.clock.advance(seconds=10)
    assert [a.delivered for a in world.dispatch()] == [True, True]
    assert sorted(e.to for e in world.sender.outbox) == ["homer@globex.example", "marge@globex.example"]
    assert {e.subject for e in world.sender.outbox} == {"OverdueReminder"}
    assert world.mail_status() == {PENDING: 0, SENT: 2, FAILED: 0}
    assert [(line.number, line.days_overdue) for line in _reminders(world, "homer@globex.example")[0].invoices] == [
        ("LATE", 10), ("LATER", 1)]


# ---- voiding


@pytest.mark.parametrize("status", [InvoiceStatus.DRAFT, InvoiceStatus.SENT])
def test_a_void_invoice_is_neither_visible_nor_payable(world: World, status: InvoiceStatus) -> None:
    world.invoice("i1", status=status, issued=TODAY if status == InvoiceStatus.SENT else None)
    outcome = world.void("i1")
    invoice = world.get_invoice("i1")
    assert outcome.changed and invoice.status == InvoiceStatus.VOID
    assert not policy.is_client_visible(invoice) and not policy.can_pay(world.company, world.homer, invoice)
    assert world.sender.outbox == []
    assert world.audit() == [("invoice_voided", None, "invoice I1")]
    assert not world.void("i1").changed


@pytest.mark.parametrize("status", [InvoiceStatus.PARTIALLY_PAID, InvoiceStatus.PAID])
def test_an_invoice_with_payments_is_not_voided(world: World, status: InvoiceStatus) -> None:
    world.invoice("i1", status=status, issued=TODAY, paid="100.00" if status == InvoiceStatus.PARTIALLY_PAID
                  else "378.00")
    with pytest.raises(InvalidTransition, match=r"^invoice I1 is (partially paid|paid) \(AED .* received\): it "):
        world.void("i1")
    assert world.get_invoice("i1").status == status


def test_voiding_counts_the_pay_now_attempts_still_open(world: World) -> None:
    invoice = world.invoice("i1", status=InvoiceStatus.SENT, issued=TODAY)
    with world.uow:
        world.uow.payments.add(Payment.start(id="pay1", invoice_id=invoice.id, company_id=world.company.id,
                                             contact_id=world.homer.id, provider=Provider.STRIPE,
                                             amount=invoice.outstanding, attempt_key="k" * 24, now=START,
                                             lifetime=dt.timedelta(hours=1)))
        world.uow.commit()
    assert world.void("i1").open_attempts == 1


# ---- the property: visible iff sent, partially paid or paid; payable iff open with something left


_OPS = st.lists(st.one_of(st.just(("send", 0)), st.just(("void", 0)),
                          st.tuples(st.just("pay"), st.integers(min_value=1, max_value=50_000))), max_size=12)


def _pay(world: World, minor: int) -> None:
    """A card payment of up to what is left (any amount when nothing is), confirmed by the provider through the real
    ledger: it applies the payment to an open invoice and refuses it for any other, leaving the invoice as it was."""
    with world.uow:
        invoice = world.uow.invoices.get_by_ref("i1")
        assert invoice is not None
        amount = Money(min(minor, invoice.outstanding.minor) or minor, invoice.currency)
        payment_id = new_id(world.randomness)
        world.uow.payments.add(Payment(
            id=payment_id, invoice_id=invoice.id, company_id=invoice.company_id, contact_id=world.homer.id,
            provider=Provider.STRIPE, amount=amount, status=PaymentStatus.PENDING, attempt_key=payment_id,
            created_at=world.clock.now(), provider_ref=f"cs_{payment_id}"))
        world.uow.commit()
    confirmed = ledger.confirm_payment(
        world.uow, clock=world.clock, randomness=world.randomness, templates=JinjaEmailTemplates(),
        provider=Provider.STRIPE, source="test", outcome=PaymentOutcome(
            provider_ref=f"cs_{payment_id}", kind=OutcomeKind.PAID, paid_minor=amount.minor,
            paid_currency=amount.currency))
    assert confirmed.applied == invoice.is_open


@settings(max_examples=150, deadline=None)
@given(ops=_OPS, due_in=st.one_of(st.none(), st.integers(min_value=0, max_value=60)), enabled=st.booleans())
def test_visibility_and_payability_follow_the_status_after_any_sequence(
        ops: list[tuple[str, int]], due_in: int | None, enabled: bool) -> None:
    world = make_world()
    if not enabled:
        world.set_access(False)
    world.invoice("i1", due=None if due_in is None else TODAY + dt.timedelta(days=due_in))
    expected = InvoiceStatus.DRAFT
    for op, amount in ops:
        before = world.get_invoice("i1")
        if op == "send":
            if expected in (InvoiceStatus.VOID, InvoiceStatus.PAID):
                with pytest.raises(InvalidTransition):
                    world.send_invoice("i1")
            else:
                world.send_invoice("i1")
                expected = InvoiceStatus.SENT if expected == InvoiceStatus.DRAFT else expected
        elif op == "void":
            if expected in (InvoiceStatus.PARTIALLY_PAID, InvoiceStatus.PAID):
                with pytest.raises(InvalidTransition):
                    world.void("i1")
            else:
                world.void("i1")
                expected = InvoiceStatus.VOID
        else:
            _pay(world, amount)
            after = world.get_invoice("i1")
            if before.is_open:
                expected = after.status
                assert after.amount_paid.minor == before.amount_paid.minor + min(amount, before.outstanding.minor)
        invoice = world.get_invoice("i1")
        assert invoice.status == expected
        visible = invoice.status in (InvoiceStatus.SENT, InvoiceStatus.PARTIALLY_PAID, InvoiceStatus.PAID)
        payable = invoice.status in (InvoiceStatus.SENT, InvoiceStatus.PARTIALLY_PAID) and invoice.outstanding.minor > 0
        assert policy.is_client_visible(invoice) == visible
        assert invoice.is_open == payable
        assert policy.can_pay(world.company, world.homer, invoice) == (payable and enabled)
        assert invoice.amount_paid <= invoice.total
        if visible:
            assert invoice.issued_date is not None
            assert invoice.due_date is None or invoice.due_date >= invoice.issued_date


# ---- the notices as the Jinja templates render them


def _notice(link: str | None, *, reminder: bool = False) -> DocumentNotice:
    return DocumentNotice(business=Business(name="Falcon Facilities", email="office@falcon.example",
                                            phone="+971 4 000 0000"),
                          company_name="Globex LLC", contact_name="Homer Simpson", kind=DocumentKind.INVOICE,
                          number="INV-2003", total=Money(37800, "AED"), outstanding=Money(27800, "AED"),
                          issued_date=dt.date(2026, 12, 1), due_date=dt.date(2026, 12, 31), valid_until=None,
                          portal_link=link, reminder=reminder)


def test_the_invoice_notice_links_to_the_sign_in_page_with_its_amounts() -> None:
    link = "https://portal.example/p/TOKEN/login"
    email = JinjaEmailTemplates().render(_notice(link), to="homer@globex.example")
    assert email.subject == "Invoice INV-2003 from Falcon Facilities: AED 278.00 due 31 Dec 2026"
    for part in (email.text, email.html):
        assert link in part and "AED 378.00" in part and "AED 278.00" in part and "31 Dec 2026" in part
        assert "Falcon Facilities" in part
    assert email.reply_to == "office@falcon.example"
    assert f'href="{link}"' in email.html


def test_without_a_link_the_notice_asks_the_client_to_contact_the_business() -> None:
    email = JinjaEmailTemplates().render(_notice(None, reminder=True), to="homer@globex.example")
    assert email.subject.startswith("Reminder: Invoice INV-2003")
    for part in (email.text, email.html):
        assert "/p/" not in part and "/login" not in part and "href" not in part
        assert "Please contact Falcon Facilities at office@falcon.example or +971 4 000 0000" in part
