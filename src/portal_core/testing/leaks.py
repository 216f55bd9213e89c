"""The leak checks of the contract suite: lookups that must find nothing, and what only the embedder knows.

`check_strangers_find_nothing` tries what an attacker or a bug would: unknown ids, ids of another kind of record,
filters naming records that do not exist, and wrong, empty, short, near-miss and other companies' link tokens. Each
must find nothing (or the other company, never this one). `check_expectations` compares the adapter's mapping with
what the embedder states about its own data (`Expectations`): which portals are on, which status and amount paid an
invoice maps to, which project a job belongs to. A check with no data to run on fails, saying which data to add: it
never passes silently.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Mapping, Sequence

import attrs

from portal_core.model.company import Company
from portal_core.model.documents import InvoiceStatus, QuoteStatus
from portal_core.ports import UnitOfWork

UNKNOWN_IDS = ("", "0", "1", "unknown", "0000000000000000", "ffffffffffffffff", "../1", "1 OR 1=1")
_ANY_DAY = dt.date(2026, 1, 1)  # lists are read whole; the day only orders them


@attrs.frozen(kw_only=True)
class Expectations:
    """What the embedder knows of its own data, written by the embedder from it (docs/embedding.md, §7).

    companies: a company's ref -> whether its portal is on (state one on and, if there is one, one off).
    invoices: an invoice's ref -> (the status it must map to, the amount paid in minor units); include a draft
        and one partly paid when the data has them.
    jobs: a job's ref -> its project's ref, or None for a job in no project.
    """

    companies: Mapping[str, bool] = attrs.field(factory=dict)
    invoices: Mapping[str, tuple[InvoiceStatus, int]] = attrs.field(factory=dict)
    jobs: Mapping[str, str | None] = attrs.field(factory=dict)


class NoDataToCheck(AssertionError):
    """A check found nothing to run on: the message says which data to provide."""


def _need(items: Sequence[object], count: int, what: str) -> None:
    if len(items) < count:
        raise NoDataToCheck(f"the contract needs {what} to check this rule, and the store has {len(items)}: add "
                            "them to the data the suite runs on (or to `expectations`)")


def near_misses(token: str) -> list[str]:
    """Tokens a guesser or a sloppy comparison would try: empty, short, the right start with a wrong rest, one
    character changed, one more, another case, padded."""
    flip = {c: d for c, d in zip("abcdefghijklmnopqrstuvwxyz0123456789-_ABCDEFGHIJKLMNOPQRSTUVWXYZ",
                                 "bcdefghijklmnopqrstuvwxyz0123456789-_ABCDEFGHIJKLMNOPQRSTUVWXYZa", strict=True)}
    half = len(token) // 2
    tries = ["", token[:1], token[:8], token[:half], token[:-1], token + "x", token + "=", f" {token} ",
             token[:half] + "".join(flip.get(c, "a") for c in token[half:]),
             token[:-1] + flip.get(token[-1], "a"), flip.get(token[0], "a") + token[1:],
             token.upper(), token.lower(), "x" * len(token), "0" * len(token)]
    return [t for t in dict.fromkeys(tries) if t != token]


def check_strangers_find_nothing(uow: UnitOfWork) -> int:
    """Unknown ids, ids of another kind of record, unknown filter targets and wrong link tokens find nothing.
    Call it inside `with uow:`; returns how many lookups it made."""
    companies = uow.companies.list()
    _need(companies, 2, "two companies set up for the portal (with link tokens)")
    checks = 0
    for company, other in itertools.permutations(companies, 2):
        for wrong in near_misses(company.link_token):
            found = uow.companies.get_by_link_token(wrong)
            assert found is None or (found.link_token == wrong and found.id != company.id), (
                f"link token {wrong!r}, a near miss of {company.ref or company.id}'s, opened "
                f"{found.ref or found.id}")
            checks += 1
        found = uow.companies.get_by_link_token(other.link_token)
        assert (found is None and not other.portal_enabled) or (found is not None and found.id == other.id), (
            "another company's link token opened the wrong company")  # an adapter may hide a portal that is off
    ids = _ids_by_kind(uow, companies)
    for kind, known in ids.items():
        _need(known, 1, f"at least one {kind[:-1]} (to try its id where another kind of record is looked up)")
    for kind in ids:
        repository = getattr(uow, kind)
        strangers = [i for other_kind, others in ids.items() if other_kind != kind for i in others]
        for stranger in [*UNKNOWN_IDS, *strangers]:
            found = repository.get(stranger)
            assert found is None, f"{kind}.get({stranger!r}) found {found!r}: an id of another kind, or of nothing"
            checks += 1
        if hasattr(repository, "get_many"):
            assert repository.get_many([*UNKNOWN_IDS, *strangers]) == [], f"{kind}.get_many found strangers"
    for company in companies:
        checks += _check_unknown_filters(uow, company, ids)
    return checks


def _ids_by_kind(uow: UnitOfWork, companies: Sequence[Company]) -> dict[str, list[str]]:
    """The ids of every company's contacts, invoices and jobs (needed), and quotes, projects and files (if any)."""
    found: dict[str, list[str]] = {kind: [] for kind in ("contacts", "invoices", "jobs", "quotes", "projects", "files")}
    found["companies"] = [c.id for c in companies]
    for company in companies:
        found["contacts"] += [k.id for k in uow.contacts.list_for_company(company.id)]
        found["invoices"] += [i.id for i in uow.invoices.list_for_company(
            company.id, statuses=frozenset(InvoiceStatus), today=_ANY_DAY)]
        found["quotes"] += [q.id for q in uow.quotes.list_for_company(company.id, statuses=frozenset(QuoteStatus))]
        found["jobs"] += [j.id for j in uow.jobs.list_for_company(company.id)]
        found["projects"] += [p.id for p in uow.projects.list_for_company(company.id)]
        found["files"] += [f.id for f in uow.files.list_for_company(company.id)]
    return {kind: ids for kind, ids in found.items() if ids or kind in ("contacts", "invoices", "jobs")}


def _check_unknown_filters(uow: UnitOfWork, company: Company, ids: Mapping[str, Sequence[str]]) -> int:
    """A filter naming a record that does not exist, or a record of another kind, lists nothing (a filter the adapter
    ignores lists everything)."""
    checks = 0
    well_formed = [i for kind in ("contacts", "quotes") for i in ids.get(kind, [])[:2]]  # real ids, never targets
    for nothing in [*UNKNOWN_IDS[1:4], *well_formed]:
        assert uow.jobs.list_for_company(company.id, project_id=nothing) == [], "the jobs' project filter is ignored"
        assert uow.tasks.list_for_company(company.id, job_id=nothing) == [], "the tasks' job filter is ignored"
        assert uow.files.list_for_company(company.id, job_id=nothing) == [], "the files' job filter is ignored"
        assert uow.files.list_for_company(company.id, invoice_id=nothing) == [], "the files' invoice filter is ignored"
        assert uow.contacts.list_for_company(nothing) == [], "contacts listed for a company that does not exist"
        assert uow.invoices.list_for_company(nothing, statuses=frozenset(InvoiceStatus), today=_ANY_DAY) == [], (
            "invoices listed for a company that does not exist")
        checks += 6
    return checks


def check_expectations(uow: UnitOfWork, expectations: Expectations) -> int:
    """The adapter maps the embedder's data as the embedder says it must. Call it inside `with uow:`."""
    _need(list(expectations.companies), 1, "`expectations.companies`: a company ref and whether its portal is on")
    _need(list(expectations.invoices), 1, "`expectations.invoices`: an invoice ref, its status and amount paid")
    _need(list(expectations.jobs), 1, "`expectations.jobs`: a job ref and its project's ref (or None)")
    for ref, enabled in expectations.companies.items():
        company = uow.companies.get_by_ref(ref)
        assert company is not None, f"no company with the ref {ref!r}"
        assert company.portal_enabled is enabled, f"company {ref}: portal {'on' if enabled else 'off'} expected"
    for ref, (status, paid) in expectations.invoices.items():
        invoice = uow.invoices.get_by_ref(ref)
        assert invoice is not None, f"no invoice with the ref {ref!r}"
        assert invoice.status == InvoiceStatus(status), f"invoice {ref}: {status} expected, {invoice.status} found"
        assert invoice.amount_paid.minor == paid, (
            f"invoice {ref}: {paid} paid (minor units) expected, {invoice.amount_paid.minor} found")
    for ref, project_ref in expectations.jobs.items():
        job = uow.jobs.get_by_ref(ref)
        assert job is not None, f"no job with the ref {ref!r}"
        project = uow.projects.get_by_ref(project_ref) if project_ref is not None else None
        assert project_ref is None or project is not None, f"no project with the ref {project_ref!r}"
        assert (project.id if project is not None else None) == job.project_id, f"job {ref}: project {project_ref}"
        if project is not None:
            assert job.id in [j.id for j in uow.jobs.list_for_company(job.company_id, project_id=project.id)], (
                f"job {ref} is missing from its project's list")
    return len(expectations.companies) + len(expectations.invoices) + len(expectations.jobs)


