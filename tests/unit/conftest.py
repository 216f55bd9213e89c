"""Fixtures for the unit tests: the in-memory adapters, a tiny fake of the EmailTemplates port, and a seeded portal."""

from __future__ import annotations

import datetime as dt

import attrs
import pytest

from adapters.memory import (
    FixedClock,
    InMemoryFileStorage,
    InMemoryStore,
    InMemoryUnitOfWork,
    RecordingEmailSender,
    SeededRandomness,
)
from portal_core import companies
from portal_core.ids import new_id
from portal_core.model.business import Business
from portal_core.model.company import Company
from portal_core.model.contact import Contact
from portal_core.model.mail import Email, Notice
from portal_core.sign_in import SignInPolicy, SignInSecrets

SECRET = "unit-test-secret-key"
START = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


class FakeEmailTemplates:
    """Renders the bare minimum, so tests can read the code back out of the outbox."""

    def render(self, notice: Notice, to: str) -> Email:
        return Email(to=to, subject=f"Your sign-in code for {notice.business.name}",
                     text=f"Your code is {notice.code}", html=f"<p>Your code is <b>{notice.code}</b></p>")


def code_in(email: Email) -> str:
    """The code carried by a message rendered by FakeEmailTemplates."""
    prefix = "Your code is "
    assert email.text.startswith(prefix), email.text
    return email.text[len(prefix):]


@attrs.define
class Portal:
    """One world for the sign-in tests: the fakes, plus the company and contact ids and a shortcut per use case."""

    store: InMemoryStore
    uow: InMemoryUnitOfWork
    clock: FixedClock
    randomness: SeededRandomness
    sender: RecordingEmailSender
    storage: InMemoryFileStorage
    templates: FakeEmailTemplates
    secrets: SignInSecrets
    policy: SignInPolicy

    def add_company(self, name: str, *, enabled: bool = True, ref: str | None = None) -> Company:
        company = Company(id=new_id(self.randomness), name=name, ref=ref, portal_enabled=enabled,
                          link_token=companies.new_link_token(self.randomness))
        with self.uow:
            self.uow.companies.add(company)
            self.uow.commit()
        return company

    def add_contact(self, company: Company, name: str, email: str) -> Contact:
        return companies.add_contact(self.uow, randomness=self.randomness, company_key=company.name, name=name,
                                     email=email)

    def company(self, company_id: str) -> Company:
        with self.uow:
            found = self.uow.companies.get(company_id)
        assert found is not None
        return found


def make_portal(policy: SignInPolicy | None = None, seed: int = 0) -> Portal:
    store = InMemoryStore()
    uow = InMemoryUnitOfWork(store)
    with uow:
        uow.business.save(Business(name="Falcon Facilities", email="office@falcon.example"))
        uow.commit()
    return Portal(store=store, uow=uow, clock=FixedClock(START), randomness=SeededRandomness(seed),
                  sender=RecordingEmailSender(), storage=InMemoryFileStorage(), templates=FakeEmailTemplates(),
                  secrets=SignInSecrets.from_secret(SECRET), policy=policy or SignInPolicy())


@pytest.fixture
def portal() -> Portal:
    return make_portal()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def randomness() -> SeededRandomness:
    return SeededRandomness(1234)


@pytest.fixture
def storage() -> InMemoryFileStorage:
    return InMemoryFileStorage()


@pytest.fixture
def uow() -> InMemoryUnitOfWork:
    return InMemoryUnitOfWork(InMemoryStore())
