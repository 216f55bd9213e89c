"""The repository contract suite (portal_core.testing.contract) against the in-memory adapters."""

from __future__ import annotations

import pytest

from adapters.memory import InMemoryStore, InMemoryUnitOfWork
from portal_core.testing.contract import RepositoryContract, UowFactory
from portal_core.testing.cross_linked import CrossLinkedReadContract


class TestInMemoryRepositories(RepositoryContract):
    @pytest.fixture
    def make_uow(self) -> UowFactory:
        store = InMemoryStore()
        return lambda: InMemoryUnitOfWork(store)


class TestInMemoryReadRulesOverCrossLinkedData(CrossLinkedReadContract):
    """The read rules over data whose links cross companies, as a CRM's own data may."""

    @pytest.fixture
    def make_uow(self) -> UowFactory:
        store = InMemoryStore()
        return lambda: InMemoryUnitOfWork(store)
