"""The library's embedding kit (adapters.sqlalchemy.embedding, portal_core.ids.OpaqueIds) on its own: a unit of work
over a CRM's tables behaves as every unit of work must; the portal's tables go into a CRM's database without foreign
keys into the CRM-owned kinds (SQLite: off on the engine; PostgreSQL: dropped); opaque ids round-trip per kind."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from legacy_crm.adapters import LegacyCrmUnitOfWork
from legacy_crm.database import create_crm_database

from adapters.sqlalchemy import embedding
from adapters.sqlalchemy.engine import create_engine_from_url
from adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWork
from portal_core.errors import CrmOwnedRecord
from portal_core.ids import OpaqueIds
from portal_core.model.company import Company
from portal_core.model.one_time_code import OneTimeCode
from portal_core.ports import REPOSITORY_NAMES

from .conftest import postgres_base_url, postgres_schema

IDS = OpaqueIds.from_secret("embedding-kit-secret-0123456789")
NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


def test_portal_and_crm_owned_name_every_repository_once() -> None:
    assert sorted([*embedding.PORTAL_OWNED, *embedding.CRM_OWNED]) == sorted(REPOSITORY_NAMES)
    assert not set(embedding.PORTAL_OWNED) & set(embedding.CRM_OWNED)


@given(kind=st.sampled_from(["bill", "work_order", "customer"]), key=st.integers(0, 2**63 - 1))
def test_opaque_ids_round_trip_per_kind_and_are_nothing_as_another_kind(kind: str, key: int) -> None:
    public = IDS.public(kind, key)
    assert len(public) == 16 and IDS.key(kind, public) == key
    other = IDS.key("estimate", public)
    assert other != key and (other is None or 0 <= other < 2**63)  # never past what an integer column holds
    assert OpaqueIds.from_secret("another secret").public(kind, key) != public


def test_opaque_ids_refuse_what_is_not_one() -> None:
    for text in ("", "0", "XYZ", "0123456789ABCDEF", "0123456789abcde", "0123456789abcdef0", None):
        assert IDS.key("bill", text) is None
    with pytest.raises(ValueError, match="64-bit"):
        IDS.public("bill", 2**63)


@pytest.fixture
def crm_sqlite(tmp_path: Path) -> str:
    url = create_crm_database(tmp_path / "crm.db")
    embedding.add_portal_tables(url)
    return url


def test_a_crm_unit_of_work_is_one_block_at_a_time(crm_sqlite: str) -> None:
    engine = embedding.crm_engine(crm_sqlite)
    try:
        uow = LegacyCrmUnitOfWork(engine, IDS)
        with pytest.raises(RuntimeError):
            uow.companies.list()  # before its block
        with uow:
            assert [c.ref for c in uow.companies.list()] == ["GLOBEX", "INITECH"]
            assert uow.codes.prune(NOW) == 0  # a portal-owned repository, on the same connection
            with pytest.raises(RuntimeError):
                uow.__enter__()
            with pytest.raises(CrmOwnedRecord):
                uow.companies.add(Company(id="x", name="X", link_token="x" * 22))
        with pytest.raises(RuntimeError):
            uow.companies.get("x")  # after it
        with pytest.raises(RuntimeError):
            uow.codes.get("x")
        with pytest.raises(RuntimeError):
            uow.commit()
    finally:
        engine.dispose()


def _code_for_a_contact_only_the_crm_has(engine: sa.Engine) -> None:
    """Stores a sign-in code naming a contact and a company that live in the CRM's tables only."""
    with SqlAlchemyUnitOfWork(engine) as portal:
        portal.codes.add(OneTimeCode(id="code-1", contact_id=IDS.public("person", 10),
                                     company_id=IDS.public("customer", 1), flow_key="f" * 32, code_hash="h" * 64,
                                     issued_at=NOW, expires_at=NOW + dt.timedelta(minutes=10)))
        portal.commit()
    with SqlAlchemyUnitOfWork(engine) as portal:
        assert portal.codes.get("code-1") is not None


def test_on_sqlite_the_crm_engine_does_not_enforce_foreign_keys_and_the_default_does(crm_sqlite: str) -> None:
    strict, crm = create_engine_from_url(crm_sqlite), embedding.crm_engine(crm_sqlite)
    try:
        with strict.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        with crm.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 0
        _code_for_a_contact_only_the_crm_has(crm)  # a sign-in code names a contact of the CRM's tables
    finally:
        strict.dispose()
        crm.dispose()


@pytest.mark.postgres
def test_on_postgresql_add_portal_tables_drops_the_keys_into_crm_owned_tables_and_is_idempotent() -> None:
    with postgres_schema(postgres_base_url()) as url:
        embedding.add_portal_tables(url)
        embedding.add_portal_tables(url)  # an upgrade run again changes nothing
        engine = create_engine_from_url(url)
        try:
            with engine.connect() as connection:
                inspector = sa.inspect(connection)
                into_crm_owned = [(table, key["referred_table"]) for table in inspector.get_table_names()
                                  for key in inspector.get_foreign_keys(table)
                                  if key["referred_table"] in ("companies", "contacts", "invoices", "jobs")
                                  and table not in ("companies", "contacts", "invoices", "jobs", "projects",
                                                    "tasks", "quotes", "files", "products", "business")]
                kept = [(table, key["referred_table"]) for table in inspector.get_table_names()
                        for key in inspector.get_foreign_keys(table) if key["referred_table"] == "payments"]
            assert into_crm_owned == []
            assert kept  # keys between the portal's own tables stay (payment allocations -> payments)
            _code_for_a_contact_only_the_crm_has(engine)
        finally:
            engine.dispose()


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_the_access_trigger_counts_each_time_the_crm_turns_a_portal_off(kind: str, tmp_path: Path) -> None:
    def run(url: str) -> None:
        embedding.add_portal_tables(url)
        engine = embedding.crm_engine(url)
        try:
            with engine.begin() as connection:
                connection.exec_driver_sql("CREATE TABLE accounts (id INTEGER PRIMARY KEY, portal_on BOOLEAN)")
                connection.exec_driver_sql("INSERT INTO accounts VALUES (7, TRUE), (8, TRUE)")
            embedding.install_access_trigger(engine, table="accounts", key="id", flag="portal_on")
            embedding.install_access_trigger(engine, table="accounts", key="id", flag="portal_on")  # idempotent
            for value in ("FALSE", "TRUE", "TRUE", "FALSE", "FALSE"):  # off, on, on, off, off: two offs
                with engine.begin() as connection:
                    connection.exec_driver_sql(f"UPDATE accounts SET portal_on = {value} WHERE id = 7")
            with engine.connect() as connection:
                links = embedding.CompanyLinks(connection, "trigger-test-secret")
                assert links.of([7, 8]) == {7: (links.of([7])[7][0], 2), 8: (links.of([8])[8][0], 0)}
            with pytest.raises(ValueError, match="identifier"):
                embedding.install_access_trigger(engine, table="accounts; DROP TABLE x", key="id", flag="portal_on")
        finally:
            engine.dispose()

    if kind == "sqlite":
        run(f"sqlite:///{tmp_path / 'crm.db'}")
    else:
        with postgres_schema(postgres_base_url()) as url:
            run(url)
