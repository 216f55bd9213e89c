"""The read-only contract over data whose links cross companies (a job of one company in another's project, a file
on another's invoice), as a CRM's own data may: the read rules and leak checks must hold over it too."""

from __future__ import annotations

import pytest

from portal_core.testing.contract import (
    RepositoryReadContract,
    UowFactory,
    cross_linked_world,
    expectations_of,
    store_world,
)
from portal_core.testing.leaks import Expectations


class CrossLinkedReadContract(RepositoryReadContract):
    """Subclass it with a `make_uow` fixture over an empty, writable store; it stores a cross-linked world first."""

    def prepare_store(self, make_uow: UowFactory) -> None:
        store_world(make_uow, cross_linked_world())

    @pytest.fixture
    def expectations(self) -> Expectations:
        return expectations_of(cross_linked_world())
