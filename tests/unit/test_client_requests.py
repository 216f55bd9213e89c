"""Requests on the in-memory fakes: validation, the one-time form token, the business's notice, lists and status."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.memory import FixedClock, InMemoryStore, InMemoryUnitOfWork, SeededRandomness
from portal_core import client_requests
from portal_core.client_requests import RequestIds
from portal_core.errors import (
    Conflict,
    InvalidInput,
    PortalUnavailable,
    RequestFormInvalid,
    Throttled,
    UnknownCompany,
    UnknownRecord,
)
from portal_core.model.audit import AuditEntry
from portal_core.model.business import Business
from portal_core.model.company import Company
from portal_core.model.contact import Contact
from portal_core.model.documents import ClientRequest, RequestStatus
from portal_core.model.mail import Email, NewRequestNotice, Notice
from portal_core.model.outbox import MailPurpose, OutboxMessage, OutboxStatus
from portal_core.paging import PAGE_SIZE
from portal_core.sign_in import ThrottleKeys, Viewer

NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
IDS = RequestIds.from_secret("unit-test-secret")
THROTTLE = ThrottleKeys.from_secret("unit-test-secret")


class NoticeTemplates:
    """Keeps the notices it was asked to render, and renders them flatly."""

    def __init__(self) -> None:
        self.notices: list[Notice] = []

    def render(self, notice: Notice, to: str) -> Email:
        self.notices.append(notice)
        assert isinstance(notice, NewRequestNotice)
        return Email(to=to, subject=f"New request from {notice.company_name}: {notice.title}",
                     text=f"{notice.contact_name}: {notice.details}", html="<p>...</p>")


class Portal:
    def __init__(self, *, with_business: bool = True) -> None:
        self.store = InMemoryStore()
        self.uow = InMemoryUnitOfWork(self.store)
        self.clock = FixedClock(NOW)
        self.randomness = SeededRandomness(11)
        self.templates = NoticeTemplates()
        self.globex = Company(id="g", name="Globex LLC", link_token="g" * 32, portal_enabled=True, ref="globex")
        self.initech = Company(id="i", name="Initech", link_token="i" * 32, portal_enabled=True, ref="initech")
        self.homer = Contact(id="homer", company_id="g", name="Homer Simpson", email="homer@globex.example")
        self.marge = Contact(id="marge", company_id="g", name="Marge Simpson", email="marge@globex.example")
        self.peter = Contact(id="peter", company_id="i", name="Peter Gibbons", email="peter@initech.example")
        with self.uow:
            if with_business:
                self.uow.business.save(Business(name="Falcon Facilities", email="office@falcon.example"))
            for company in (self.globex, self.initech):
                self.uow.companies.add(company)
            for contact in (self.homer, self.marge, self.peter):
                self.uow.contacts.add(contact)
            self.uow.commit()

    def viewer(self, contact: Contact | None = None) -> Viewer:
        contact = contact or self.homer
        return Viewer(company=self.globex if contact.company_id == "g" else self.initech, contact=contact,
                      session_id="s")

    def token(self, contact: Contact | None = None) -> str:
        """A form token issued by the server to the contact (Homer unless told), as the New request page does."""
        return IDS.issue_form_token(self.randomness, self.viewer(contact))

    def submit(self, title: str = "Noisy unit", details: str = "Floor 3, since Monday.", *,
               token: str | None = None, contact: Contact | None = None) -> tuple[ClientRequest, str | None]:
        """Submits the form; returns the request and the outbox id of the business's notice (None when none)."""
        self.clock.advance(seconds=1)
        return client_requests.submit_request(
            self.uow, clock=self.clock, randomness=self.randomness, templates=self.templates, ids=IDS,
            throttle=THROTTLE, viewer=self.viewer(contact), title=title,
            details=details, form_token=token or self.token(contact))

    def submit_with(self, form_token: str, contact: Contact | None = None) -> tuple[ClientRequest, str | None]:
        """A submit with exactly this form token (no token issued on the way)."""
        return client_requests.submit_request(
            self.uow, clock=self.clock, randomness=self.randomness, templates=self.templates, ids=IDS,
            throttle=THROTTLE, viewer=self.viewer(contact), title="t",
            details="d", form_token=form_token)

    def queued(self, message_id: str) -> OutboxMessage:
        """The message as it waits in the outbox."""
        with self.uow:
            message = self.uow.outbox.get(message_id)
        assert message is not None
        return message

    def audit(self, company_id: str = "g") -> list[AuditEntry]:
        with self.uow:
            return self.uow.audit.list_for_company(company_id)

    def counted(self, contact: Contact | None = None) -> int:
        """The contact's new requests the throttle counts now (its window is an hour)."""
        key = THROTTLE.for_client_requests((contact or self.homer).id)
        with self.uow:
            return self.uow.login_requests.count_since(key, self.clock.now() - dt.timedelta(hours=1))

    def stored(self, company_id: str = "g") -> list[ClientRequest]:
        with self.uow:
            return self.uow.requests.list_for_company(company_id)


@pytest.fixture
def portal() -> Portal:
    return Portal()


# ---- validation


@pytest.mark.parametrize(("title", "ok"), [
    ("", False), (" ", False), ("\t\n  ", False), ("x", True), ("  x  ", True), ("x" * 200, True),
    ("  " + "x" * 200 + "  ", True), ("x" * 201, False),
])
def test_the_title_is_required_and_at_most_200_characters_after_trimming(portal: Portal, title: str,
                                                                         ok: bool) -> None:
    if ok:
        request, _email = portal.submit(title=title)
        assert request.title == title.strip()
    else:
        with pytest.raises(RequestFormInvalid) as raised:
            portal.submit(title=title)
        assert set(raised.value.fields) == {"title"}
        assert portal.stored() == [] and portal.templates.notices == []


@pytest.mark.parametrize(("details", "ok"), [
    ("", False), ("   \n\t ", False), ("d", True), ("d" * 5000, True), ("d" * 5000 + "   ", True),
    ("d" * 5001, False),
])
def test_details_are_required_and_at_most_5000_characters(portal: Portal, details: str, ok: bool) -> None:
    if ok:
        assert portal.submit(details=details)[0].details == details.strip()
    else:
        with pytest.raises(RequestFormInvalid) as raised:
            portal.submit(details=details)
        assert set(raised.value.fields) == {"details"}
        assert portal.stored() == []


def test_every_bad_field_gets_its_own_message(portal: Portal) -> None:
    with pytest.raises(RequestFormInvalid) as raised:
        portal.submit(title="", details="d" * 5001)
    fields = raised.value.fields
    assert set(fields) == {"title", "details"}
    assert "title" in fields["title"].lower() and "5000" in fields["details"]
    assert isinstance(raised.value, InvalidInput)


@settings(max_examples=200, deadline=None)
@given(title=st.text(max_size=260), details=st.text(max_size=40) | st.just("d" * 5001))
def test_a_submit_either_stores_one_valid_request_or_nothing(title: str, details: str) -> None:
    portal = Portal()
    try:
        request, email = portal.submit(title=title, details=details)
    except RequestFormInvalid as exc:
        assert exc.fields and set(exc.fields) <= {"title", "details"}
        assert portal.stored() == []
        assert ("title" in exc.fields) == (not 1 <= len(title.strip()) <= 200)
        assert ("details" in exc.fields) == (not 1 <= len(details.strip()) <= 5000)
        return
    assert 1 <= len(request.title) <= 200 and request.title == title.strip()
    assert 1 <= len(request.details) <= 5000
    assert portal.stored() == [request] and email is not None


# ---- the one-time form token


def test_a_double_submit_of_the_same_form_makes_one_request_and_one_notice(portal: Portal) -> None:
    token = portal.token()
    first, email = portal.submit(token=token)
    again, second_email = portal.submit(token=token)
    assert again == first and email is not None and second_email is None
    assert portal.stored() == [first]
    assert len(portal.templates.notices) == 1


def test_different_forms_make_different_requests(portal: Portal) -> None:
    # Marge's form carries the very nonce of Homer's first one (same randomness): the id is still her own.
    homers_a = IDS.issue_form_token(SeededRandomness(5), portal.viewer())
    marges_a = IDS.issue_form_token(SeededRandomness(5), portal.viewer(portal.marge))
    assert homers_a.split(".")[0] == marges_a.split(".")[0] and homers_a != marges_a
    a, _ = portal.submit(token=homers_a)
    b, _ = portal.submit(token=portal.token())
    c, _ = portal.submit(token=marges_a, contact=portal.marge)
    assert len({a.id, b.id, c.id}) == 3
    assert len(portal.stored()) == 3


def test_request_ids_are_keyed_and_look_like_every_other_id() -> None:
    homer = Portal().viewer()
    first, second = RequestIds.from_secret("secret one"), RequestIds.from_secret("secret two")
    # The same nonce (same randomness) issued under two secrets: two different ids.
    token_one = first.issue_form_token(SeededRandomness(3), homer)
    token_two = second.issue_form_token(SeededRandomness(3), homer)
    assert token_one.split(".")[0] == token_two.split(".")[0]
    one = first.for_form("g", "homer", token_one)
    two = second.for_form("g", "homer", token_two)
    assert one != two
    assert one == RequestIds.from_secret("secret one").for_form("g", "homer", token_one)
    assert re.fullmatch(r"[A-Za-z0-9_-]{16}", one)
    assert "secret" not in repr(RequestIds.from_secret("secret one"))


@pytest.mark.parametrize("token", ["", "short", "x" * 129, "has spaces in it here", "../../../etc/passwd/x",
                                   "form-token-0123456789", "a" * 22 + "." + "b" * 21, "a" * 65 + "." + "b" * 22,
                                   "a" * 22 + ".." + "b" * 22, "a" * 22 + "." + "b" * 22 + "\n"])
def test_a_malformed_form_token_is_refused(portal: Portal, token: str) -> None:
    with pytest.raises(InvalidInput, match="expired"):
        portal.submit_with(token)
    assert portal.stored() == []


def _other_tag(token: str) -> str:
    nonce, tag = token.split(".")
    return f"{nonce}.{'A' if tag[0] != 'A' else 'B'}{tag[1:]}"


@pytest.mark.parametrize("made_up", [
    pytest.param(lambda p: "a" * 22 + "." + "b" * 22, id="made-up"),
    pytest.param(lambda p: _other_tag(p.token()), id="issued-with-one-character-of-the-tag-changed"),
    pytest.param(lambda p: p.token().split(".")[0] + "." + p.token().split(".")[1], id="tag-of-another-token"),
    pytest.param(lambda p: p.token(p.marge), id="issued-to-another-contact-of-the-company"),
    pytest.param(lambda p: p.token(p.peter), id="issued-to-a-contact-of-another-company"),
    pytest.param(lambda p: RequestIds.from_secret("another secret").issue_form_token(p.randomness, p.viewer()),
                 id="issued-under-another-secret"),
])
def test_a_form_token_the_server_did_not_issue_to_this_contact_is_refused_and_stores_nothing(
        portal: Portal, made_up: Callable[[Portal], str]) -> None:
    token = made_up(portal)
    assert re.fullmatch(r"[A-Za-z0-9_-]{16,64}\.[A-Za-z0-9_-]{22}", token)  # the right shape, only not ours
    with pytest.raises(InvalidInput, match="expired") as raised:
        portal.submit(token=token)
    assert not isinstance(raised.value, RequestFormInvalid)
    with pytest.raises(InvalidInput):
        IDS.for_form("g", "homer", token)
    assert portal.stored() == [] and portal.stored("i") == []
    assert portal.templates.notices == [] and portal.audit() == []
    assert portal.counted() == 0


def test_the_token_the_server_issued_is_accepted_and_names_its_request(portal: Portal) -> None:
    token = portal.token()
    nonce, tag = token.split(".")
    assert len(tag) == 22 and 16 <= len(nonce) <= 64
    request, _ = portal.submit(token=token)
    assert request.id == IDS.for_form("g", "homer", token)


def test_an_id_that_is_someone_elses_request_is_never_handed_over(portal: Portal) -> None:
    token = portal.token()
    victim_id = IDS.for_form("g", "homer", token)
    with portal.uow:  # planted: another company's request under exactly that id
        portal.uow.requests.add(ClientRequest(id=victim_id, company_id="i", title="Private", details="x",
                                              status=RequestStatus.NEW, created_at=NOW, submitted_by="peter"))
        portal.uow.commit()
    with pytest.raises(InvalidInput):
        portal.submit(token=token)


class RacingUnitOfWork(InMemoryUnitOfWork):
    """Another submit of the same form commits first; this one's commit then fails, as a duplicate key would."""

    raced = False

    def commit(self) -> None:
        if not self.raced:
            self.raced = True
            pending = self.requests._rows  # type: ignore[attr-defined]
            other = InMemoryUnitOfWork(self.store)
            with other:
                for request in pending.values():
                    if other.requests.get(request.id) is None:
                        other.requests.add(request)
                other.commit()
            raise Conflict("duplicate id")
        super().commit()


def test_losing_the_race_to_a_concurrent_double_submit_returns_the_winner(portal: Portal) -> None:
    racing = RacingUnitOfWork(portal.store)
    request, email = client_requests.submit_request(racing, clock=portal.clock, randomness=portal.randomness,
                                                    templates=portal.templates, ids=IDS,
                                                    throttle=THROTTLE, viewer=portal.viewer(), title="Race",
                                                    details="d",
                                                    form_token=portal.token())
    assert email is None and request.title == "Race"
    assert [r.id for r in portal.stored()] == [request.id]


def test_other_failures_are_not_swallowed(portal: Portal) -> None:
    class Broken(InMemoryUnitOfWork):
        def commit(self) -> None:
            raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        client_requests.submit_request(Broken(portal.store), clock=portal.clock, randomness=portal.randomness,
                                       templates=portal.templates, ids=IDS,
                                       throttle=THROTTLE, viewer=portal.viewer(), title="t", details="d",
                                       form_token=portal.token())
    assert portal.stored() == []


# ---- the hourly limit of new requests


LIMIT = client_requests.REQUESTS_PER_HOUR


def _fill_the_hour(portal: Portal, contact: Contact | None = None) -> list[ClientRequest]:
    made = [portal.submit(title=f"r{n}", contact=contact)[0] for n in range(LIMIT)]
    assert portal.counted(contact) == LIMIT
    return made


def test_the_limit_is_ten_new_requests_an_hour() -> None:
    assert LIMIT == 10


def test_the_eleventh_new_request_in_an_hour_is_throttled_and_stores_nothing(portal: Portal) -> None:
    made = _fill_the_hour(portal)
    notices, audit = len(portal.templates.notices), len(portal.audit())
    with pytest.raises(Throttled) as raised:
        portal.submit(title="One too many", details="Still typed.")
    assert "hour" in str(raised.value) and raised.value.limit == "client-requests"
    assert not isinstance(raised.value, InvalidInput)  # not a form problem: the web answers 429, not 400
    assert sorted(r.id for r in portal.stored()) == sorted(r.id for r in made)
    assert "One too many" not in [r.title for r in portal.stored()]
    assert len(portal.templates.notices) == notices and len(portal.audit()) == audit
    assert portal.counted() == LIMIT  # a refused submit does not count, so it does not push the hour on


def test_another_contact_of_the_company_can_still_submit(portal: Portal) -> None:
    _fill_the_hour(portal)
    with pytest.raises(Throttled):
        portal.submit()
    marges, email = portal.submit(title="Marge's", contact=portal.marge)
    assert email is not None and marges in portal.stored()
    peters, _ = portal.submit(title="Peter's", contact=portal.peter)
    assert portal.stored("i") == [peters]
    with pytest.raises(Throttled):  # and Homer is still held back
        portal.submit()


def test_the_limit_counts_each_contact_on_its_own(portal: Portal) -> None:
    _fill_the_hour(portal, portal.marge)
    _fill_the_hour(portal)
    for contact in (portal.homer, portal.marge):
        with pytest.raises(Throttled):
            portal.submit(contact=contact)
    assert len(portal.stored()) == 2 * LIMIT


def test_once_the_hour_has_passed_the_contact_can_submit_again(portal: Portal) -> None:
    made = _fill_the_hour(portal)  # a second apart
    first = made[0].created_at
    portal.clock.set(first + dt.timedelta(minutes=59, seconds=59))
    with pytest.raises(Throttled):  # the first request is a second short of an hour old
        portal.submit_with(portal.token())
    portal.clock.set(first + dt.timedelta(hours=1, seconds=0.5))  # only the first has left the hour
    request, email = portal.submit_with(portal.token())
    assert email is not None and request in portal.stored() and request.created_at == portal.clock.now()
    with pytest.raises(Throttled):  # its slot came free, and it is taken now
        portal.submit_with(portal.token())
    portal.clock.advance(hours=1)
    assert portal.submit(title="Much later")[1] is not None
    assert len(portal.stored()) == LIMIT + 2


def test_a_resend_of_a_stored_form_past_the_limit_returns_the_first_request(portal: Portal) -> None:
    token = portal.token()
    first, email = portal.submit(title="First", token=token)
    assert email is not None
    for n in range(LIMIT - 1):
        portal.submit(title=f"r{n}")
    with pytest.raises(Throttled):
        portal.submit()
    again, second_email = portal.submit(title="First", token=token)
    assert again == first and second_email is None
    assert len(portal.stored()) == LIMIT and portal.counted() == LIMIT


def test_a_form_refused_for_the_limit_goes_through_with_the_same_token_later(portal: Portal) -> None:
    _fill_the_hour(portal)
    token = portal.token()
    with pytest.raises(Throttled):
        portal.submit(title="Kept", token=token)
    portal.clock.advance(hours=1)
    request, email = portal.submit(title="Kept", token=token)
    assert email is not None and request.id == IDS.for_form("g", "homer", token)
    assert portal.submit(title="Kept", token=token) == (request, None)


# ---- what is stored and said


def test_a_request_is_new_submitted_by_the_contact_and_the_business_is_told(portal: Portal) -> None:
    request, queued = portal.submit(title="  Leak  ", details=" Kitchen \n sink ")
    assert request.status == RequestStatus.NEW and request.submitted_by == "homer" and request.company_id == "g"
    assert request.created_at == portal.clock.now()
    assert (request.title, request.details) == ("Leak", "Kitchen \n sink")
    assert queued is not None
    message = portal.queued(queued)  # queued with the request, in its transaction, for a dispatcher to send
    assert message.email.to == "office@falcon.example" and message.status == OutboxStatus.PENDING
    assert (message.purpose, message.company_id, message.contact_id) == (MailPurpose.NEW_REQUEST, "g", "homer")
    [notice] = portal.templates.notices
    assert isinstance(notice, NewRequestNotice)
    assert (notice.company_name, notice.contact_name, notice.contact_email, notice.title, notice.request_id) == (
        "Globex LLC", "Homer Simpson", "homer@globex.example", "Leak", request.id)
    with portal.uow:
        [entry] = portal.uow.audit.list_for_company("g")
    assert (entry.action, entry.contact_id, entry.detail) == ("request_submitted", "homer", request.id)


def test_without_a_business_nothing_is_stored() -> None:
    portal = Portal(with_business=False)
    with pytest.raises(PortalUnavailable):
        portal.submit()
    assert portal.stored() == []


# ---- reading them


def test_the_company_sees_every_contacts_requests_and_only_its_own(portal: Portal) -> None:
    homers, _ = portal.submit(title="Homer's")
    marges, _ = portal.submit(title="Marge's", contact=portal.marge)
    peters, _ = portal.submit(title="Peter's", contact=portal.peter)
    page = client_requests.list_requests(portal.uow, portal.viewer())
    assert [(v.request.id, v.submitted_by_name) for v in page.items] == [
        (marges.id, "Marge Simpson"), (homers.id, "Homer Simpson")]
    assert not page.has_next and not page.has_previous
    assert client_requests.request_detail(portal.uow, portal.viewer(portal.marge), homers.id).request == homers
    with pytest.raises(UnknownRecord):
        client_requests.request_detail(portal.uow, portal.viewer(), peters.id)
    with pytest.raises(UnknownRecord):
        client_requests.request_detail(portal.uow, portal.viewer(), "nope")


def test_requests_are_paged(portal: Portal) -> None:
    for n in range(PAGE_SIZE + 1):
        portal.clock.advance(minutes=10)  # under the hourly limit of new requests
        portal.submit(title=f"r{n}")
    first = client_requests.list_requests(portal.uow, portal.viewer(), 1)
    second = client_requests.list_requests(portal.uow, portal.viewer(), 2)
    assert len(first.items) == PAGE_SIZE and first.has_next
    assert [v.request.title for v in second.items] == ["r0"] and not second.has_next and second.has_previous
    assert client_requests.list_requests(portal.uow, portal.viewer(), 10**9).items == ()


def test_a_request_whose_contact_was_removed_keeps_showing(portal: Portal) -> None:
    request, _ = portal.submit(contact=portal.marge)
    with portal.uow:
        portal.uow.contacts.remove("marge")
        portal.uow.commit()
    assert client_requests.request_detail(portal.uow, portal.viewer(), request.id).submitted_by_name is None


# ---- staff


def test_staff_list_a_companys_requests(portal: Portal) -> None:
    request, _ = portal.submit(title="Leak")
    portal.submit(title="Elsewhere", contact=portal.peter)
    rows = client_requests.list_company_requests(portal.uow, "globex")
    assert [(r.request.id, r.submitted_by_name) for r in rows] == [(request.id, "Homer Simpson")]
    with pytest.raises(UnknownCompany):
        client_requests.list_company_requests(portal.uow, "nobody")


@pytest.mark.parametrize("status", ["open", "in_progress", "closed", "new", " CLOSED ", RequestStatus.OPEN])
def test_staff_move_a_request_along(portal: Portal, status: str | RequestStatus) -> None:
    request, _ = portal.submit()
    changed = client_requests.set_request_status(portal.uow, request.id, status)
    assert changed.status == RequestStatus(str(getattr(status, "value", status)).strip().lower())
    assert portal.stored()[0].status == changed.status


def test_unknown_statuses_and_requests_are_refused(portal: Portal) -> None:
    request, _ = portal.submit()
    with pytest.raises(InvalidInput, match="new, open, in_progress, closed"):
        client_requests.set_request_status(portal.uow, request.id, "done")
    with pytest.raises(UnknownRecord):
        client_requests.set_request_status(portal.uow, "nope", "open")
    assert portal.stored()[0].status == RequestStatus.NEW


def test_ids_never_start_with_a_dash_so_the_cli_can_take_them() -> None:
    keyed, homer, randomness = RequestIds.from_secret("k"), Portal().viewer(), SeededRandomness(7)
    ids = {keyed.for_form("g", "homer", keyed.issue_form_token(randomness, homer)) for _ in range(500)}
    assert len(ids) == 500 and not any(i.startswith("-") for i in ids)


def test_new_ids_never_start_with_a_dash() -> None:
    from portal_core.ids import new_id

    class Dashing:
        def token(self, nbytes: int) -> str:
            return "-" + "a" * 15

        def digits(self, count: int) -> str:
            return "0" * count

    assert new_id(Dashing()) == "_" + "a" * 15
