"""The repository contract suite (portal_core.testing.contract) on the SQLAlchemy adapters: SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWork
from portal_core.testing.contract import RepositoryContract, UowFactory
from portal_core.testing.cross_linked import CrossLinkedReadContract


class TestSqlAlchemyRepositories(RepositoryContract):
    @pytest.fixture
    def make_uow(self, engine: sa.Engine) -> UowFactory:  # `engine`: a migrated database, SQLite and PostgreSQL
        return lambda: SqlAlchemyUnitOfWork(engine)


class TestSqlAlchemyReadRulesOverCrossLinkedData(CrossLinkedReadContract):
    """The read rules over data whose links cross companies, as a CRM's own data may."""

    @pytest.fixture
    def make_uow(self, engine: sa.Engine) -> UowFactory:
        return lambda: SqlAlchemyUnitOfWork(engine)
