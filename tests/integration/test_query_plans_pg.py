"""No list sorts all of a company's rows: on PostgreSQL, with a company of 5,000 invoices among many, the plan of
each list page reads an index in the list's order and stops at the page. A Sort node over more rows than a page
fails the test (EXPLAIN (FORMAT JSON) of the very statements the repositories run).

PostgreSQL runs a prepared statement (psycopg prepares one run five times) with one of two plans: one made for the
values at hand (custom), or one made once for any values (generic), which it picks when that looks no dearer. The
generic plan is made for an average company; for the large one it could sort everything. Each check runs on both."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from adapters.sqlalchemy.engine import create_engine_from_url
from adapters.sqlalchemy.migrate import upgrade
from adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWork
from portal_core import policy
from portal_core.browsing import PAGE_SIZE

from .conftest import postgres_base_url, postgres_schema

pytestmark = pytest.mark.postgres

TODAY = dt.date(2026, 6, 15)
BIG = "c0"
PAGE = PAGE_SIZE + 1  # a page and the one row that says whether there is a next one

SEED = [
    "INSERT INTO companies (id, name, link_token, portal_enabled, access_generation) "
    "SELECT 'c' || n, 'Company ' || n, 'plan-token-' || lpad(n::text, 12, '0'), true, 0 "
    "FROM generate_series(0, 1999) n",
    # 5,000 invoices of the big company, 20,000 spread over the others; every status, due dates around today.
    "INSERT INTO invoices (id, company_id, number, status, currency, issued_date, due_date, lines, tax_minor, "
    "amount_paid_minor, total_minor) SELECT 'i' || n, CASE WHEN n < 5000 THEN 'c0' ELSE 'c' || (1 + mod(n, "
    "1999)) END, "
    "'INV-' || lpad(n::text, 6, '0'), (ARRAY['sent','partially_paid','paid','draft','void'])[1 + mod(n, 5)], 'AED', "
    "DATE '2026-01-01' + (mod(n, 150)), CASE WHEN mod(n, 97) = 0 THEN NULL ELSE DATE '2026-01-01' + (mod(n, "
    "150)) + 20 + mod(n, 60) END, "
    "'[]', 0, CASE mod(n, 5) WHEN 1 THEN 100 WHEN 2 THEN 1000 ELSE 0 END, 1000 FROM generate_series(0, 24999) n",
    "INSERT INTO quotes (id, company_id, number, status, currency, issued_date, valid_until, lines) "
    "SELECT 'q' || n, CASE WHEN n < 3000 THEN 'c0' ELSE 'c' || (1 + mod(n, 1999)) END, "
    "'QUO-' || lpad(n::text, 6, '0'), "
    "(ARRAY['sent','accepted','declined','draft'])[1 + mod(n, 4)], 'AED', "
    "CASE WHEN mod(n, 89) = 0 THEN NULL ELSE DATE '2026-01-01' + (mod(n, 160)) END, NULL, "
    "'[]' FROM generate_series(0, 9999) n",
    "INSERT INTO jobs (id, company_id, title, status, scheduled_start) "
    "SELECT 'j' || n, CASE WHEN n < 3000 THEN 'c0' ELSE 'c' || (1 + mod(n, 1999)) END, 'Job ' || n, "
    "(ARRAY['scheduled','in_progress','on_hold','completed'])[1 + mod(n, 4)], "
    "CASE WHEN mod(n, 83) = 0 THEN NULL ELSE DATE '2026-01-01' + (mod(n, 180)) END FROM generate_series(0, 19999) n",
    "INSERT INTO files (id, company_id, name, content_type, size, content_hash, attached_at, job_id) "
    "SELECT 'f' || n, CASE WHEN n < 3000 THEN 'c0' ELSE 'c' || (1 + mod(n, 1999)) END, 'file-' || n || '.pdf', "
    "'application/pdf', 10, repeat('a', 64), TIMESTAMPTZ '2026-01-01 00:00+00' + n * INTERVAL '1 minute', "
    "'j' || CASE WHEN n < 3000 THEN mod(n, 3000) ELSE 3000 + mod(n, 17000) END FROM generate_series(0, 19999) n",
    "INSERT INTO requests (id, company_id, title, details, status, created_at) "
    "SELECT 'r' || n, CASE WHEN n < 3000 THEN 'c0' ELSE 'c' || (1 + mod(n, 1999)) END, 'Request ' || n, '', 'open', "
    "TIMESTAMPTZ '2026-01-01 00:00+00' + n * INTERVAL '1 minute' FROM generate_series(0, 9999) n",
    "ANALYZE",
]


@pytest.fixture(scope="module")
def engine() -> Iterator[sa.Engine]:
    with postgres_schema(postgres_base_url()) as url:
        upgrade(url)
        engine = create_engine_from_url(url)
        try:
            with engine.begin() as connection:
                for statement in SEED:
                    connection.exec_driver_sql(statement)
            yield engine
        finally:
            engine.dispose()


def _sorts(node: dict[str, Any]) -> Iterator[tuple[str, float]]:
    """Every Sort in the plan, with the rows it takes in (its input's estimate)."""
    children = node.get("Plans", [])
    if "Sort" in node["Node Type"]:
        yield node["Node Type"], max((child["Plan Rows"] for child in children), default=node["Plan Rows"])
    for child in children:
        yield from _sorts(child)


def _index_names(node: dict[str, Any]) -> set[str]:
    names = {node["Index Name"]} if "Index Name" in node else set()
    for child in node.get("Plans", []):
        names |= _index_names(child)
    return names


PLANS = ["custom", "generic"]


def _read_and_plan(engine: sa.Engine, read: Callable[[SqlAlchemyUnitOfWork], object], explain: str,
                   plan: str = "custom") -> tuple[Any, str, dict[str, Any]]:
    """What read returns, the one SELECT it ran, and that statement's plan (explain: the EXPLAIN prefix): the plan
    for its values, or (plan="generic") the one plan PostgreSQL would reuse for any values once prepared."""
    seen: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_rest: Any) -> None:
        seen.append((statement, parameters))

    uow = SqlAlchemyUnitOfWork(engine)
    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        with uow:
            rows = read(uow)
    finally:
        sa.event.remove(engine, "before_cursor_execute", capture)
    [(statement, parameters)] = [(s, p) for s, p in seen if s.lstrip().upper().startswith("SELECT")]
    with engine.connect() as connection:
        if plan == "custom":
            [[found]] = connection.exec_driver_sql(explain + statement, parameters).one()
        else:
            found = _generic_plan(connection, explain, statement, parameters)
    return rows, statement, found


def _generic_plan(connection: sa.Connection, explain: str, statement: str, parameters: dict[str, Any]) -> Any:
    """PREPARE the statement (its named placeholders numbered) and EXPLAIN EXECUTE it with generic plans forced."""
    names: list[str] = []

    def number(found: re.Match[str]) -> str:
        if found.group(1) not in names:
            names.append(found.group(1))
        return f"${names.index(found.group(1)) + 1}"

    prepared = re.sub(r"%\((\w+)\)s", number, statement)  # a literal % stays escaped (%%) for the driver
    connection.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
    connection.exec_driver_sql("PREPARE planned AS " + prepared)
    try:
        values = ", ".join(f"%({name})s" for name in names)
        # The values go as literals (client-side binding): as parameters of EXECUTE their types would be unknown.
        executed = psycopg.ClientCursor(connection.connection.dbapi_connection)  # type: ignore[arg-type]
        executed.execute(f"{explain}EXECUTE planned({values})", {name: parameters[name] for name in names})
        [[[found]]] = executed.fetchall()
        return found
    finally:
        connection.exec_driver_sql("DEALLOCATE planned")
        connection.exec_driver_sql("RESET plan_cache_mode")


LISTS: dict[str, tuple[str, Callable[[SqlAlchemyUnitOfWork, int], object]]] = {
    "invoices": ("ix_invoices_company_due_order", lambda uow, offset: uow.invoices.list_for_company(
        BIG, statuses=policy.CLIENT_VISIBLE_INVOICE_STATUSES, today=TODAY, offset=offset, limit=PAGE)),
    "quotes": ("ix_quotes_company_issued_order", lambda uow, offset: uow.quotes.list_for_company(
        BIG, statuses=policy.CLIENT_VISIBLE_QUOTE_STATUSES, offset=offset, limit=PAGE)),
    "jobs": ("ix_jobs_company_start_order", lambda uow, offset: uow.jobs.list_for_company(
        BIG, offset=offset, limit=PAGE)),
    "files": ("ix_files_company_attached_order", lambda uow, offset: uow.files.list_for_company(
        BIG, offset=offset, limit=PAGE)),
    "requests": ("ix_requests_company_created_order", lambda uow, offset: uow.requests.list_for_company(
        BIG, offset=offset, limit=PAGE)),
}


@pytest.mark.parametrize("plan_kind", PLANS)
@pytest.mark.parametrize("offset", [0, 2 * PAGE_SIZE])
@pytest.mark.parametrize("kind", sorted(LISTS))
def test_each_list_reads_its_index_in_order_and_stops_at_the_page(engine: sa.Engine, kind: str, offset: int,
                                                                  plan_kind: str) -> None:
    index, read = LISTS[kind]
    rows, statement, plan = _read_and_plan(engine, lambda uow: read(uow, offset), "EXPLAIN (FORMAT JSON) ",
                                           plan_kind)
    assert len(rows) == PAGE  # type: ignore[arg-type]
    top = plan["Plan"]
    big_sorts = [(node, rows_in) for node, rows_in in _sorts(top) if rows_in > offset + PAGE]
    assert not big_sorts, (kind, big_sorts, statement)
    assert index in _index_names(top), (kind, _index_names(top))


def _removed(node: dict[str, Any]) -> int:
    """Rows the plan read and threw away (filters), over all its nodes."""
    own = int(node.get("Rows Removed by Filter", 0)) + int(node.get("Rows Removed by Index Recheck", 0))
    return own + sum(_removed(child) for child in node.get("Plans", []))


@pytest.mark.parametrize("plan_kind", PLANS)
def test_the_home_pages_open_invoices_are_read_without_walking_the_companys_past(engine: sa.Engine,
                                                                                 plan_kind: str) -> None:
    """The home page asks for open invoices, overdue first, and one row more than it shows. Each part of that read
    starts where its rows are (index ranges; partial indexes for open invoices with something left to pay, migration
    0015, and with nothing left, 0014): it does not read the company's thousands of paid and past invoices to throw
    them away, nor sort its open ones."""
    from portal_core.browsing import HOME_FETCH, OPEN_INVOICE_STATUSES

    rows, statement, plan = _read_and_plan(engine, lambda uow: uow.invoices.list_for_company(
        BIG, statuses=OPEN_INVOICE_STATUSES, today=TODAY, limit=HOME_FETCH), "EXPLAIN (ANALYZE, FORMAT JSON) ",
        plan_kind)
    assert len(rows) == HOME_FETCH  # type: ignore[arg-type]
    # The rows near today that are not open are read and skipped (131 with this data); the company's past invoices,
    # thousands, are not (before migration 0014, about 4,000 rows were read to find none).
    assert _removed(plan["Plan"]) <= 200, (_removed(plan["Plan"]), statement)
    assert {"ix_invoices_company_settled_open", "ix_invoices_company_unpaid_open"} <= _index_names(plan["Plan"])
    assert not [node for node, rows_in in _sorts(plan["Plan"]) if rows_in > HOME_FETCH], statement


def test_repeated_statements_are_prepared_and_may_reuse_a_generic_plan(engine: sa.Engine) -> None:
    """What the tests above check is what requests run: psycopg prepares a statement run five times, and the engine
    leaves PostgreSQL to choose between the two plans checked above (plan_cache_mode's default)."""
    from portal_core.browsing import HOME_FETCH, OPEN_INVOICE_STATUSES

    with SqlAlchemyUnitOfWork(engine) as uow:
        assert uow.connection.exec_driver_sql("SHOW plan_cache_mode").scalar() == "auto"
        for _ in range(10):
            uow.invoices.list_for_company(BIG, statuses=OPEN_INVOICE_STATUSES, today=TODAY, limit=HOME_FETCH)
        prepared = uow.connection.exec_driver_sql(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
            "WHERE strpos(statement, 'FROM invoices') > 0").all()
    assert prepared, "psycopg no longer prepares repeated statements: this test no longer checks anything"
    assert all(generic + custom >= 5 for generic, custom in prepared), prepared
