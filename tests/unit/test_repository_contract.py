"""The repository contract suite (portal_core.testing.contract) against the in-memory adapters."""

from __future__ import annotations

import pytest

from adapters.memory import InMemoryStore, InMemoryUnitOfWork
from portal_core.testing.contract import (
    RepositoryContract,
    RepositoryReadContract,
    UowFactory,
    cross_linked_world,
    expectations_of,
    store_world,
)
from portal_core.testing.leaks import Expectations


class TestInMemoryRepositories(RepositoryContract):
    @pytest.fixture
    def make_uow(self) -> UowFactory:
        store = InMemoryStore()
        return lambda: InMemoryUnitOfWork(store)


class TestInMemoryReadRulesOverCrossLinkedData(RepositoryReadContract):
    """The read rules over data whose links cross companies, as a CRM's own data may."""

    @pytest.fixture
    def make_uow(self) -> UowFactory:
        store = InMemoryStore()
        return lambda: InMemoryUnitOfWork(store)

    def prepare_store(self, make_uow: UowFactory) -> None:
        store_world(make_uow, cross_linked_world())

    @pytest.fixture
    def expectations(self) -> Expectations:
        return expectations_of(cross_linked_world())
