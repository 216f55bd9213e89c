"""Mutation tests of the contract suite itself: the 14 adapter bugs a CRM developer's trial planted (issue 19), each
planted alone in a copy of the example's adapter (examples/legacy_crm), must make the read-only contract fail.

The suite's tests are run as they are (RepositoryReadContract's own methods) over the example's sample data plus one
row of the mutants' own (a work order whose key equals a bill's, so an id of one kind can be tried as the other),
with the expectations the example's developer would write. The unchanged copy passes: the failures are the bugs'.
"""

from __future__ import annotations

import importlib
import shutil
import sqlite3
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest
from legacy_crm.database import add_portal_tables, create_crm_database, legacy_engine

from portal_core.ids import OpaqueIds
from portal_core.model.documents import InvoiceStatus
from portal_core.testing.contract import RepositoryReadContract, UowFactory
from portal_core.testing.leaks import Expectations

EXAMPLE = Path(__file__).parents[2] / "examples" / "legacy_crm" / "legacy_crm"
SECRET = "mutant-test-secret-0123456789"

EXPECTATIONS = Expectations(
    companies={"GLOBEX": True, "INITECH": False},
    invoices={"B-1001": (InvoiceStatus.SENT, 0), "B-1002": (InvoiceStatus.PARTIALLY_PAID, 5000),
              "B-1004": (InvoiceStatus.DRAFT, 0)},
    jobs={"WO-501": None})

# (the bug, the file, the code as written, the code with the bug): planted in a copy, at the first place the code is
# written (every place, for bug 8: an adapter that gives work orders the bills' kind of id).
BUGS: list[tuple[str, str, str, str]] = [
    ("1 the email lookup is case-sensitive", "adapters.py",
     "sa.func.lower(sa.func.trim(people.c.mail)) == email_key", "people.c.mail == email_key"),
    ("2 invoices of all clients are listed", "adapters.py",
     "self._invoices(bills.c.customer_no == customer, bills.c.state.in_(codes))",
     "self._invoices(bills.c.state.in_(codes))"),
    ("3 invoices are ordered by number", "adapters.py",
     "_page(found, lambda i: ordering.invoice_key(i, today), offset, limit)",
     "_page(found, lambda i: (i.number, i.id), offset, limit)"),
    ("4 paging is off by the limit", "adapters.py",
     "return ordered[offset:] if limit is None else ordered[offset:offset + limit]",
     "return ordered[offset:] if limit is None else ordered[offset:offset + limit + 1]"),
    ("5 the status filter is ignored", "adapters.py",
     "self._invoices(bills.c.customer_no == customer, bills.c.state.in_(codes))",
     "self._invoices(bills.c.customer_no == customer)"),
    ("6 the link token's tail is not checked (a near miss opens the client)", "adapters.py",
     "return self._first(customers.c.portal_key == token)",
     "return self._first(sa.func.substr(customers.c.portal_key, 1, 16) == token[:16]) if len(token) >= 16 else None"),
    ("7 any token opens the first client", "adapters.py",
     "return self._first(customers.c.portal_key == token)", "return self._first()"),
    ("8 an id of another kind of record is accepted (bills and work orders share one kind of id)", "adapters.py",
     '"work_order", ', '"bill", '),
    ("9 draft is mapped to sent (drafts leak)", "adapters.py",
     "BILL_STATES = {0: InvoiceStatus.DRAFT,", "BILL_STATES = {0: InvoiceStatus.SENT,"),
    ("10 the contact lookup ignores the client", "adapters.py",
     "self._contacts(people.c.customer_no == customer,\n                               sa.func.lower",
     "self._contacts(sa.func.lower"),
    ("11 the jobs' project filter is ignored", "adapters.py",
     "if customer is None or project_id is not None:  # the CRM has no projects", "if customer is None:"),
    ("12 contacts of all clients are listed", "adapters.py",
     "self._contacts(people.c.customer_no == customer) if customer is not None else []",
     "self._contacts() if customer is not None else []"),
    ("13 the portal on/off flag is inverted", "adapters.py",
     'portal_enabled=row["portal_flag"] == 1', 'portal_enabled=row["portal_flag"] != 1'),
    ("14 amounts paid are ignored", "adapters.py",
     'amount_paid=money(row["paid"], currency)', "amount_paid=Money.zero(currency)"),
]


def planted(tmp_path: Path, name: str, bug: tuple[str, str, str, str] | None) -> ModuleType:
    """A copy of the example's package named `name`, with `bug` planted; returns its adapters module."""
    package = tmp_path / name
    shutil.copytree(EXAMPLE, package)
    for source in package.glob("*.py"):
        text = source.read_text().replace("legacy_crm.", f"{name}.")
        if bug is not None and source.name == bug[1]:
            assert text.count(bug[2]) >= 1, f"the code of bug {bug[0]!r} is no longer in the example"
            text = text.replace(bug[2], bug[3], -1 if bug[0].startswith("8 ") else 1)
        source.write_text(text)
    sys.path.insert(0, str(tmp_path))
    try:
        return importlib.import_module(f"{name}.adapters")
    finally:
        sys.path.remove(str(tmp_path))


@pytest.fixture
def crm_url(tmp_path: Path) -> str:
    url = create_crm_database(tmp_path / "crm.db")
    add_portal_tables(url)
    with sqlite3.connect(tmp_path / "crm.db") as connection:  # the mutants' own row: work order 1001, bill 1001
        connection.execute("INSERT INTO work_orders VALUES (1001, 1, 'WO-1001', 'Filter change', 'NEW', NULL, NULL)")
    return url


@pytest.fixture
def suite_on(crm_url: str, tmp_path: Path) -> Iterator[Callable[[ModuleType], list[str]]]:
    """Runs the read-only contract's tests over an adapter module; returns the failures (test: message)."""
    engine = legacy_engine(crm_url)

    def run(adapters: ModuleType) -> list[str]:
        make_uow: UowFactory = adapters.unit_of_work_factory(engine, OpaqueIds.from_secret(SECRET))
        suite = RepositoryReadContract()
        tests: list[tuple[str, Callable[[], None]]] = [
            ("read rules", lambda: suite.test_read_rules_hold_over_the_stored_data(make_uow)),
            ("strangers", lambda: suite.test_strangers_find_nothing(make_uow)),
            ("expectations", lambda: suite.test_the_data_maps_as_the_embedder_states(make_uow, EXPECTATIONS)),
        ]
        failures = []
        for name, test in tests:
            try:
                test()
            except AssertionError as failure:
                failures.append(f"{name}: {failure}")
        return failures

    yield run
    engine.dispose()


def test_the_unchanged_copy_passes_the_suite(suite_on: Callable[[ModuleType], list[str]], tmp_path: Path) -> None:
    assert suite_on(planted(tmp_path, "unchanged_crm", None)) == []


@pytest.mark.parametrize("bug", BUGS, ids=[bug[0].split(" ")[0] for bug in BUGS])
def test_each_planted_bug_fails_the_suite(suite_on: Callable[[ModuleType], list[str]], tmp_path: Path,
                                          bug: tuple[str, str, str, str]) -> None:
    number = bug[0].split(" ")[0]
    failures = suite_on(planted(tmp_path, f"mutant_crm_{number}", bug))
    assert failures, f"the contract suite passed an adapter whose {bug[0][len(number) + 1:]}"
