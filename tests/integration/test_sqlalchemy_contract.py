"""The repository contract suite (portal_core.testing.contract) on the SQLAlchemy adapters: SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWork
from portal_core.testing.contract import RepositoryContract, UowFactory


class TestSqlAlchemyRepositories(RepositoryContract):
    @pytest.fixture
    def make_uow(self, engine: sa.Engine) -> UowFactory:  # `engine`: a migrated database, SQLite and PostgreSQL
        return lambda: SqlAlchemyUnitOfWork(engine)
