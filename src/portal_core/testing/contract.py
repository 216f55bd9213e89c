"""The repository contract: the rules every implementation of the repository ports must keep, as a pytest suite.

Run it against your own adapter by subclassing and providing a unit-of-work factory (docs/embedding.md):

    from portal_core.testing.contract import RepositoryContract

    class TestMyCrmRepositories(RepositoryContract):
        @pytest.fixture
        def make_uow(self):
            return lambda: MyCrmUnitOfWork(my_engine)

The rules: what is saved is read back equal (money to the minor unit, in 0, 2 and 3-decimal currencies); a
company's queries never return another company's records; lists follow portal_core.ordering and pages are exact
slices of the whole list; finding a contact by email ignores case. An adapter over data it does not own subclasses
RepositoryReadContract instead: the read rules only, over the data already there (check_read_rules).
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar, TypeVar

import attrs
import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st

from portal_core import ordering
from portal_core.model.company import Company
from portal_core.model.contact import Contact, email_key
from portal_core.model.documents import Invoice, InvoiceStatus, Line, Product, QuoteStatus
from portal_core.ports import UnitOfWork
from portal_core.testing.integrity import IntegrityContract
from portal_core.testing.leaks import Expectations, check_expectations, check_strangers_find_nothing
from portal_core.testing.strategies import World, dates, worlds

T = TypeVar("T")
UowFactory = Callable[[], UnitOfWork]

# (offset, limit) windows every paginated list is read through; each must be the same slice of the whole list.
WINDOWS: tuple[tuple[int, int | None], ...] = ((0, None), (0, 0), (0, 1), (1, 2), (2, None), (3, 1), (50, 10))
# Amounts in minor units that a float, a 32-bit column or a rounding would get wrong.
AWKWARD_MINOR = (0, 1, 5, 99, 100, 101, 999, 1000, 1001, 2**31 - 1, 2**31 + 1, 2**53 + 1, 10**15 + 7)


def store_world(make_uow: UowFactory, world: World) -> None:
    """Saves every record of the world through the ports, parents first, in one transaction."""
    with make_uow() as uow:
        uow.business.save(world.business)
        for kind, items in (("companies", world.companies), ("contacts", world.contacts),
                            ("projects", world.projects), ("jobs", world.jobs), ("tasks", world.tasks),
                            ("quotes", world.quotes), ("invoices", world.invoices), ("requests", world.requests),
                            ("files", world.files), ("products", world.products)):
            repository = getattr(uow, kind)
            for item in items:
                repository.add(item)
        uow.commit()


def _ids(items: Iterable[Any]) -> list[str]:
    return [item.id for item in items]


def _check_window(whole: Sequence[T], read: Callable[[int, int | None], Sequence[T]], what: str) -> None:
    for offset, limit in WINDOWS:
        end = None if limit is None else offset + limit
        assert list(read(offset, limit)) == list(whole[offset:end]), f"{what}: page offset={offset} limit={limit}"


def _check_sorted(items: Sequence[T], key: Callable[[T], Any], what: str) -> None:
    assert [key(item) for item in items] == sorted(key(item) for item in items), f"{what} out of order"


def check_read_rules(uow: UnitOfWork, *, today: dt.date, company_ids: Iterable[str] | None = None) -> int:
    """Checks the read rules over the data in the store (all companies, or those given); returns how many records
    it looked at. Call it inside `with uow:`. Needs no knowledge of how the data got there."""
    companies = uow.companies.list()
    _check_sorted(companies, lambda c: (c.name, c.id), "companies")
    wanted = set(company_ids) if company_ids is not None else {c.id for c in companies}
    checked = 0
    listed: dict[str, set[str]] = {}
    for company in companies:
        if company.id not in wanted:
            continue
        checked += _check_company(uow, company, today, listed)
    # No record is listed under two companies.
    seen: set[str] = set()
    for ids in listed.values():
        assert not (seen & ids), "a record is listed under two companies"
        seen |= ids
    products = uow.products.list()
    _check_sorted(products, lambda p: (p.name, p.id), "products")
    _check_window(products, lambda o, n: uow.products.list(offset=o, limit=n), "products")
    for product in products:
        assert product.ref is None or uow.products.get_by_ref(product.ref) == product
    return checked + len(products)


def _check_company(uow: UnitOfWork, company: Company, today: dt.date, listed: dict[str, set[str]]) -> int:
    cid = company.id
    assert uow.companies.get(cid) == company
    assert uow.companies.get_by_link_token(company.link_token) == company
    assert company.ref is None or uow.companies.get_by_ref(company.ref) == company
    named = uow.companies.get_by_name(company.name)
    assert named is not None and named.name == company.name

    def own(items: Sequence[Any], what: str) -> None:
        strangers = [item.id for item in items if item.company_id != cid]
        assert not strangers, f"{what} of another company listed under {cid}: {strangers}"

    contacts = uow.contacts.list_for_company(cid)
    own(contacts, "contacts")
    _check_sorted(contacts, lambda k: (k.name, k.id), "contacts")
    for contact in contacts:
        assert uow.contacts.get(contact.id) == contact
        assert contact.ref is None or uow.contacts.get_by_ref(contact.ref) == contact
        for typed in (contact.email, contact.email.upper(), contact.email.swapcase(), f"  {contact.email.title()} "):
            assert uow.contacts.find(cid, email_key(typed)) == contact, f"find({typed!r}) missed {contact.email}"

    all_invoice_statuses = frozenset(InvoiceStatus)
    invoices = uow.invoices.list_for_company(cid, statuses=all_invoice_statuses, today=today)
    own(invoices, "invoices")
    _check_sorted(invoices, lambda i: ordering.invoice_key(i, today), "invoices")
    _check_window(invoices, lambda o, n: uow.invoices.list_for_company(
        cid, statuses=all_invoice_statuses, today=today, offset=o, limit=n), "invoices")
    for status in InvoiceStatus:
        assert uow.invoices.list_for_company(cid, statuses=frozenset({status}), today=today) == [
            i for i in invoices if i.status == status], f"invoices with status {status}"
    for invoice in invoices:
        assert uow.invoices.get(invoice.id) == invoice
        assert invoice.ref is None or uow.invoices.get_by_ref(invoice.ref) == invoice
        for money in (invoice.tax, invoice.amount_paid, *(line.unit_price for line in invoice.lines)):
            assert money.currency == invoice.currency
    assert uow.invoices.get_many(list(reversed(_ids(invoices)))) == list(reversed(invoices))

    all_quote_statuses = frozenset(QuoteStatus)
    quotes = uow.quotes.list_for_company(cid, statuses=all_quote_statuses)
    own(quotes, "quotes")
    _check_sorted(quotes, ordering.quote_key, "quotes")
    _check_window(quotes, lambda o, n: uow.quotes.list_for_company(cid, statuses=all_quote_statuses, offset=o,
                                                                   limit=n), "quotes")
    for quote in quotes:
        assert uow.quotes.get(quote.id) == quote
        assert quote.ref is None or uow.quotes.get_by_ref(quote.ref) == quote

    projects = uow.projects.list_for_company(cid)
    own(projects, "projects")
    _check_sorted(projects, ordering.project_key, "projects")
    _check_window(projects, lambda o, n: uow.projects.list_for_company(cid, offset=o, limit=n), "projects")
    for project in projects:
        assert uow.projects.get(project.id) == project

    jobs = uow.jobs.list_for_company(cid)
    own(jobs, "jobs")
    _check_sorted(jobs, ordering.job_key, "jobs")
    _check_window(jobs, lambda o, n: uow.jobs.list_for_company(cid, offset=o, limit=n), "jobs")
    for job in jobs:
        assert uow.jobs.get(job.id) == job
        assert job.ref is None or uow.jobs.get_by_ref(job.ref) == job
    for project in projects:
        assert uow.jobs.list_for_company(cid, project_id=project.id) == [j for j in jobs if j.project_id == project.id]
    assert uow.jobs.get_many(_ids(jobs)) == jobs

    tasks = uow.tasks.list_for_company(cid)
    own(tasks, "tasks")
    _check_sorted(tasks, ordering.task_key, "tasks")
    _check_window(tasks, lambda o, n: uow.tasks.list_for_company(cid, offset=o, limit=n), "tasks")
    for job in jobs:
        assert uow.tasks.list_for_company(cid, job_id=job.id) == [t for t in tasks if t.job_id == job.id]

    requests = uow.requests.list_for_company(cid)
    own(requests, "requests")
    _check_sorted(requests, ordering.request_key, "requests")
    _check_window(requests, lambda o, n: uow.requests.list_for_company(cid, offset=o, limit=n), "requests")

    files = uow.files.list_for_company(cid)
    own(files, "files")
    _check_sorted(files, ordering.file_key, "files")
    _check_window(files, lambda o, n: uow.files.list_for_company(cid, offset=o, limit=n), "files")
    for file in files:
        assert uow.files.get(file.id) == file
    for job in jobs:
        assert uow.files.list_for_company(cid, job_id=job.id) == [f for f in files if f.job_id == job.id]
    for invoice in invoices:
        attached = [f for f in files if f.invoice_id == invoice.id]
        assert uow.files.list_for_company(cid, invoice_id=invoice.id) == attached

    mine = [*contacts, *invoices, *quotes, *projects, *jobs, *tasks, *requests, *files]
    listed[cid] = set(_ids(mine))
    return len(mine) + 1


def check_isolation(uow: UnitOfWork, company_ids: Sequence[str]) -> None:
    """A filter naming another company's job, project or invoice returns only the company's own records that point
    at it (none, where the data keeps links inside companies; a CRM's data may not): a company's queries stay its
    own whatever its records link to."""
    for cid, other in itertools.permutations(company_ids, 2):
        tasks, files = uow.tasks.list_for_company(cid), uow.files.list_for_company(cid)
        for job in uow.jobs.list_for_company(other):
            assert uow.tasks.list_for_company(cid, job_id=job.id) == [t for t in tasks if t.job_id == job.id]
            assert uow.files.list_for_company(cid, job_id=job.id) == [f for f in files if f.job_id == job.id]
        jobs = uow.jobs.list_for_company(cid)
        for project in uow.projects.list_for_company(other):
            assert uow.jobs.list_for_company(cid, project_id=project.id) == [
                j for j in jobs if j.project_id == project.id]
        for invoice in uow.invoices.list_for_company(other, statuses=frozenset(InvoiceStatus), today=dt.date.max):
            assert uow.files.list_for_company(cid, invoice_id=invoice.id) == [
                f for f in files if f.invoice_id == invoice.id]
        for contact in uow.contacts.list_for_company(other):
            found = uow.contacts.find(cid, contact.email_key)
            assert found is None or found.company_id == cid


class RepositoryReadContract:
    """The read rules, over the data already in the store: for an adapter over data it does not own (the CRM writes
    its records, not the portal). Subclass it and provide the `make_uow` fixture."""

    #: Examples per property; None: the loaded hypothesis profile's (the portal's CI loads one of 100 or more).
    max_examples: ClassVar[int | None] = None
    #: The day invoices are ordered for (overdue first) when the data is not generated.
    today: ClassVar[dt.date] = dt.date(2026, 12, 1)

    @pytest.fixture
    def make_uow(self) -> UowFactory:
        raise NotImplementedError("provide a `make_uow` fixture returning a unit-of-work factory")

    def prepare_store(self, make_uow: UowFactory) -> None:
        """Called before the read rules are checked; the data must already be there."""

    def test_read_rules_hold_over_the_stored_data(self, make_uow: UowFactory) -> None:
        self.prepare_store(make_uow)
        with make_uow() as uow:
            companies = uow.companies.list()
            assert companies, "the store holds no company: there is nothing to check the read rules against"
            assert check_read_rules(uow, today=self.today) > 0
            check_isolation(uow, _ids(companies))

    @pytest.fixture
    def expectations(self) -> Expectations:
        pytest.fail("provide an `expectations` fixture: an Expectations (portal_core.testing.leaks) stating, from "
                    "your own data, a few company refs with their portal on or off, a few invoice refs with the "
                    "status and amount paid they map to, and a job ref with its project's ref")

    def test_strangers_find_nothing(self, make_uow: UowFactory) -> None:
        self.prepare_store(make_uow)
        with make_uow() as uow:
            assert check_strangers_find_nothing(uow) > 0

    def test_the_data_maps_as_the_embedder_states(self, make_uow: UowFactory, expectations: Expectations) -> None:
        self.prepare_store(make_uow)
        with make_uow() as uow:
            assert check_expectations(uow, expectations) > 0


class RepositoryContract(IntegrityContract, RepositoryReadContract):
    """The whole contract, for an adapter the portal writes through. Subclass it in a test module (named Test...)
    and provide the `make_uow` fixture (a fresh, empty store per test)."""

    def prepare_store(self, make_uow: UowFactory) -> None:
        with make_uow() as uow:
            empty = not uow.companies.list()
        if empty:
            store_world(make_uow, rules_world())

    @pytest.fixture
    def expectations(self) -> Expectations:
        """What the stored world says each record must map to (an embedder writes these from its own data)."""
        return expectations_of(rules_world())

    def _settings(self) -> settings:
        return settings(max_examples=self.max_examples or settings().max_examples, deadline=None,
                        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

    # ---- write, then read back

    def test_what_is_saved_is_read_back(self, make_uow: UowFactory) -> None:
        namespaces = itertools.count()

        @self._settings()
        @given(data=st.data(), today=dates)
        def check(data: st.DataObject, today: dt.date) -> None:
            world = data.draw(worlds(max_companies=3, prefix=f"w{next(namespaces)}-",
                                     cross_links=data.draw(st.booleans(), label="cross_links")), label="world")
            store_world(make_uow, world)
            with make_uow() as uow:
                assert uow.business.get() == world.business
                for kind in ("companies", "contacts", "projects", "jobs", "quotes", "invoices", "requests", "files"):
                    repository = getattr(uow, kind)
                    for item in getattr(world, kind):
                        assert repository.get(item.id) == item, f"{kind} {item.id}"
                # Tasks and products have no get by id in their ports; their refs find them.
                for task in world.tasks:
                    assert task.ref is None or uow.tasks.get_by_ref(task.ref) == task
                for product in world.products:
                    assert product.ref is None or uow.products.get_by_ref(product.ref) == product
                _check_world_lists(uow, world, today)
                check_read_rules(uow, today=today, company_ids=_ids(world.companies))
                check_isolation(uow, _ids(world.companies))

        check()

    def test_money_round_trips_exactly_in_0_2_and_3_decimal_currencies(self, make_uow: UowFactory) -> None:
        namespaces = itertools.count()
        amounts = st.sampled_from(AWKWARD_MINOR) | st.integers(min_value=0, max_value=10**15)

        @self._settings()
        @given(currency=st.sampled_from(["JPY", "AED", "USD", "KWD", "BHD", "OMR"]), tax=amounts, paid=amounts,
               price=amounts, quantity=st.decimals(min_value=0, max_value=1000, places=3))
        def check(currency: str, tax: int, paid: int, price: int, quantity: Any) -> None:
            from portal_core.model.money import Money

            n = next(namespaces)
            company = Company(id=f"m{n}-company", name="Money Co", link_token=f"m{n}-link-" + "x" * 24)
            invoice = Invoice(id=f"m{n}-invoice", company_id=company.id, number=f"M-{n}", status=InvoiceStatus.SENT,
                              currency=currency, issued_date=None, due_date=None,
                              lines=(Line("work", quantity, Money(price, currency)),),
                              tax=Money(tax, currency), amount_paid=Money(paid, currency))
            product = Product(id=f"m{n}-product", name="Item", unit_price=Money(price, currency))
            with make_uow() as uow:
                uow.companies.add(company)
                uow.invoices.add(invoice)
                uow.products.add(product)
                uow.commit()
            with make_uow() as uow:
                read = uow.invoices.get(invoice.id)
                assert read == invoice
                assert read is not None and read.total == invoice.total
                assert (read.tax.minor, read.amount_paid.minor, read.lines[0].unit_price.minor) == (tax, paid, price)
                assert all(type(m.minor) is int for m in (read.tax, read.amount_paid, read.total))
                assert [p for p in uow.products.list() if p.id == product.id] == [product]

        check()

    def test_contact_find_ignores_case_and_stays_in_its_company(self, make_uow: UowFactory) -> None:
        first = Company(id="case-co-1", name="Globex", link_token="case-link-1-" + "x" * 20)
        second = Company(id="case-co-2", name="Initech", link_token="case-link-2-" + "x" * 20)
        marge = Contact(id="case-marge", company_id=first.id, name="Marge", email="Marge.Simpson@Globex.Example")
        with make_uow() as uow:
            uow.companies.add(first)
            uow.companies.add(second)
            uow.contacts.add(marge)
            uow.commit()
        with make_uow() as uow:
            for typed in ("marge.simpson@globex.example", "MARGE.SIMPSON@GLOBEX.EXAMPLE",
                          " Marge.Simpson@globex.EXAMPLE "):
                assert uow.contacts.find(first.id, email_key(typed)) == marge
            assert uow.contacts.find(second.id, email_key(marge.email)) is None
            assert uow.contacts.get(marge.id) == marge  # the case she typed is kept

    def test_updates_are_read_back(self, make_uow: UowFactory) -> None:
        company = Company(id="upd-co", name="Globex", link_token="upd-link-old-" + "x" * 20, ref="upd-globex")
        contact = Contact(id="upd-homer", company_id=company.id, name="Homer", email="homer@globex.example")
        with make_uow() as uow:
            uow.companies.add(company)
            uow.contacts.add(contact)
            uow.commit()
        changed = attrs.evolve(company, portal_enabled=True, link_token="upd-link-new-" + "y" * 20)
        moved = attrs.evolve(contact, email="Homer.J@Globex.example")
        with make_uow() as uow:
            uow.companies.update(changed)
            uow.contacts.update(moved)
            uow.commit()
        with make_uow() as uow:
            assert uow.companies.get(company.id) == changed
            assert uow.companies.get_by_link_token(company.link_token) is None
            assert uow.companies.get_by_link_token(changed.link_token) == changed
            assert uow.contacts.find(company.id, email_key("homer.j@globex.example")) == moved
            assert uow.contacts.find(company.id, email_key(contact.email)) is None

    def test_work_not_committed_is_dropped(self, make_uow: UowFactory) -> None:
        company = Company(id="rollback-co", name="Never", link_token="rollback-link-" + "x" * 20)
        with make_uow() as uow:
            uow.companies.add(company)
        with make_uow() as uow:
            assert uow.companies.get(company.id) is None


@functools.cache
def rules_world() -> World:
    """The rich world the read rules run over when the store is empty; the same one in every test of a run."""
    return find(worlds(prefix="rules-"), _checkable,
                settings=settings(database=None, phases=[Phase.generate], max_examples=2000))


def expectations_of(world: World) -> Expectations:
    """The Expectations an embedder would write for this world: its companies, and its invoices and jobs with refs
    (and, for a job in a project, a project with a ref)."""
    project_refs = {p.id: p.ref for p in world.projects}
    return Expectations(
        companies={c.ref: c.portal_enabled for c in world.companies if c.ref is not None},
        invoices={i.ref: (i.status, i.amount_paid.minor) for i in world.invoices if i.ref is not None},
        jobs={j.ref: project_refs[j.project_id] if j.project_id else None for j in world.jobs
              if j.ref is not None and (j.project_id is None or project_refs.get(j.project_id) is not None)})


@functools.cache
def cross_linked_world(prefix: str = "cross-") -> World:
    """A rich world (see `rich`) in which some links point at another company's records."""
    return find(worlds(prefix=prefix, cross_links=True), lambda w: _checkable(w) and w.links_across_companies,
                settings=settings(database=None, phases=[Phase.generate], max_examples=2000))


def _checkable(world: World) -> bool:
    expected = expectations_of(world)
    return rich(world) and bool(expected.invoices) and bool(expected.jobs) and bool(world.contacts)


def rich(world: World) -> bool:
    """A world with something of every kind to check: two companies, invoices in two currencies, files, tasks."""
    return (len(world.companies) >= 2 and len(world.invoices) >= 3 and bool(world.files) and bool(world.tasks)
            and len({i.currency for i in world.invoices}) >= 2)


def _check_world_lists(uow: UnitOfWork, world: World, today: dt.date) -> None:
    """Each list equals the world's records of that company, sorted by portal_core.ordering."""
    for company in world.companies:
        cid = company.id

        def mine(items: Iterable[T], cid: str = cid) -> list[T]:
            return [item for item in items if getattr(item, "company_id", None) == cid]

        assert uow.contacts.list_for_company(cid) == sorted(mine(world.contacts), key=lambda k: (k.name, k.id))
        assert uow.invoices.list_for_company(cid, statuses=frozenset(InvoiceStatus), today=today) == sorted(
            mine(world.invoices), key=lambda i: ordering.invoice_key(i, today))
        assert uow.quotes.list_for_company(cid, statuses=frozenset(QuoteStatus)) == sorted(
            mine(world.quotes), key=ordering.quote_key)
        for days, limit in itertools.product((0, 7, 400), (1, 2, 50)):
            by = today + dt.timedelta(days=days)
            assert uow.quotes.list_awaiting(cid, today=today, expiring_by=by, limit=limit) == (
                ordering.awaiting_quotes(mine(world.quotes), today, by, limit)), (days, limit)
        assert uow.projects.list_for_company(cid) == sorted(mine(world.projects), key=ordering.project_key)
        assert uow.jobs.list_for_company(cid) == sorted(mine(world.jobs), key=ordering.job_key)
        assert uow.tasks.list_for_company(cid) == sorted(mine(world.tasks), key=ordering.task_key)
        assert uow.requests.list_for_company(cid) == sorted(mine(world.requests), key=ordering.request_key)
        assert uow.files.list_for_company(cid) == sorted(mine(world.files), key=ordering.file_key)
