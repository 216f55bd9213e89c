"""The access policy over generated worlds: what a contact may see, checked against the rule written out plainly."""

from __future__ import annotations

import attrs
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st

from portal_core.model.company import Company
from portal_core.model.contact import Contact
from portal_core.model.documents import Invoice, InvoiceStatus, Job, Quote, QuoteStatus
from portal_core.policy import can_pay, can_see, can_see_file, may_use_portal
from portal_core.testing.strategies import World, worlds

# The rule, restated independently of portal_core.policy: drafts and void invoices are the business's own.
SHOWN_INVOICES = {InvoiceStatus.SENT, InvoiceStatus.PARTIALLY_PAID, InvoiceStatus.PAID}
SHOWN_QUOTES = {QuoteStatus.SENT, QuoteStatus.ACCEPTED, QuoteStatus.DECLINED, QuoteStatus.EXPIRED}

policy_settings = settings(max_examples=60, deadline=None)


def shown_to_clients(record: object) -> bool:
    if isinstance(record, Invoice):
        return record.status in SHOWN_INVOICES
    if isinstance(record, Quote):
        return record.status in SHOWN_QUOTES
    return True


def viewers(world: World) -> list[Contact | None]:
    return [*world.contacts, None]


def sees_anything(world: World, company: Company, contact: Contact | None) -> bool:
    return (any(can_see(company, contact, r) for r in world.records)
            or any(can_see_file(company, contact, f, world.parent_of(f)) for f in world.files))


@given(world=worlds())
@policy_settings
def test_can_see_is_exactly_the_rule(world: World) -> None:
    for company in world.companies:
        for contact in viewers(world):
            for record in world.records:
                expected = (company.portal_enabled and contact is not None and contact.company_id == company.id
                            and record.company_id == company.id and shown_to_clients(record))
                assert can_see(company, contact, record) == expected, (company, contact, record)


@given(world=worlds())
@policy_settings
def test_no_contact_ever_sees_another_companys_record(world: World) -> None:
    for company in world.companies:
        for contact in world.contacts:
            for record in world.records:
                if record.company_id != contact.company_id:
                    assert not can_see(company, contact, record)
            for file in world.files:
                for parent in (*world.jobs, *world.invoices):
                    if file.company_id != contact.company_id or parent.company_id != contact.company_id:
                        assert not can_see_file(company, contact, file, parent)


@given(world=worlds())
@policy_settings
def test_a_contact_sees_its_own_client_visible_records_while_access_is_enabled(world: World) -> None:
    for contact in world.contacts:
        company = attrs.evolve(world.company(contact.company_id), portal_enabled=True)
        assert may_use_portal(company, contact)
        for record in world.records:
            if record.company_id == company.id and shown_to_clients(record):
                assert can_see(company, contact, record)


@given(world=worlds())
@policy_settings
def test_disabling_access_hides_everything(world: World) -> None:
    for enabled in world.companies:
        company = attrs.evolve(enabled, portal_enabled=False)
        for contact in viewers(world):
            assert not may_use_portal(company, contact)
            assert not sees_anything(world, company, contact)
            assert not any(can_pay(company, contact, i) for i in world.invoices)


@given(world=worlds(), data=st.data())
@policy_settings
def test_a_removed_contact_sees_nothing(world: World, data: st.DataObject) -> None:
    for company in world.companies:
        assert not sees_anything(world, company, None)
    for contact in world.contacts:
        company = attrs.evolve(world.company(contact.company_id), portal_enabled=True)
        others = [c.id for c in world.companies if c.id != company.id] + ["company-deleted"]
        moved = attrs.evolve(contact, company_id=data.draw(st.sampled_from(others)))
        assert not may_use_portal(company, moved)
        assert not sees_anything(world, company, moved)


@given(world=worlds())
@policy_settings
def test_drafts_and_void_invoices_are_never_visible(world: World) -> None:
    hidden = ([i for i in world.invoices if i.status in (InvoiceStatus.DRAFT, InvoiceStatus.VOID)]
              + [q for q in world.quotes if q.status == QuoteStatus.DRAFT])
    for company in world.companies:
        for enabled in (company, attrs.evolve(company, portal_enabled=True)):
            for contact in viewers(world):
                for record in hidden:
                    assert not can_see(enabled, contact, record)
                for file in world.files:
                    if world.parent_of(file) in hidden:
                        assert not can_see_file(enabled, contact, file, world.parent_of(file))


@given(world=worlds())
@policy_settings
def test_a_file_is_visible_iff_its_job_or_invoice_is(world: World) -> None:
    for company in world.companies:
        for enabled in (company, attrs.evolve(company, portal_enabled=True)):
            for contact in viewers(world):
                for file in world.files:
                    parent = world.parent_of(file)
                    assert can_see_file(enabled, contact, file, parent) == can_see(enabled, contact, parent)
                    for other in (*world.jobs, *world.invoices):
                        if other is not parent:
                            assert not can_see_file(enabled, contact, file, other)
                    assert not can_see_file(enabled, contact, file, None)
                    assert not can_see_file(enabled, contact, None, parent)


@given(world=worlds())
@policy_settings
def test_a_file_moved_off_a_visible_record_stops_being_visible(world: World) -> None:
    for file in world.files:
        company = attrs.evolve(world.company(file.company_id), portal_enabled=True)
        parent = world.parent_of(file)
        for contact in (k for k in world.contacts if k.company_id == company.id):
            if isinstance(parent, Job):
                detached = attrs.evolve(file, job_id=None, invoice_id="invoice-elsewhere")
            else:
                detached = attrs.evolve(file, invoice_id=None, job_id="job-elsewhere")
            assert not can_see_file(company, contact, detached, parent)


@given(world=worlds())
@policy_settings
def test_only_visible_open_invoices_can_be_paid(world: World) -> None:
    for company in world.companies:
        for contact in viewers(world):
            for invoice in world.invoices:
                expected = (can_see(company, contact, invoice)
                            and invoice.status in (InvoiceStatus.SENT, InvoiceStatus.PARTIALLY_PAID)
                            and invoice.outstanding.minor > 0)
                assert can_pay(company, contact, invoice) == expected


def test_the_policy_fails_closed_on_unknown_things() -> None:
    company = Company(id="c", name="Globex", portal_enabled=True, link_token="t" * 32)
    contact = Contact(id="k", company_id="c", name="Homer", email="homer@globex.example")
    assert may_use_portal(company, contact)
    assert not can_see(None, contact, object())
    assert not can_see(company, contact, object())
    assert not can_see(company, contact, {"company_id": "c"})


def test_the_world_strategy_reaches_the_interesting_cases() -> None:
    """Guards the properties above against a strategy that quietly stopped making rich worlds."""

    def rich(world: World) -> bool:
        enabled = [c for c in world.companies if c.portal_enabled]
        return (len(world.companies) >= 2 and bool(enabled) and len({c.portal_enabled for c in world.companies}) == 2
                and any(f.job_id for f in world.files) and any(f.invoice_id for f in world.files)
                and {i.status for i in world.invoices} >= {InvoiceStatus.DRAFT, InvoiceStatus.SENT}
                and any(can_see(world.company(k.company_id), k, r) for k in world.contacts for r in world.records))

    world = find(worlds(), rich, settings=settings(max_examples=2000, database=None, phases=[Phase.generate]))
    assert rich(world)
