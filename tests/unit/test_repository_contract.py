"""The repository contract suite (portal_core.testing.contract) against the in-memory adapters."""

from __future__ import annotations

import pytest

from adapters.memory import InMemoryStore, InMemoryUnitOfWork
from portal_core.testing.contract import RepositoryContract, UowFactory


class TestInMemoryRepositories(RepositoryContract):
    @pytest.fixture
    def make_uow(self) -> UowFactory:
        store = InMemoryStore()
        return lambda: InMemoryUnitOfWork(store)
