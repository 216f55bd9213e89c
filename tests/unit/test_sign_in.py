"""Passwordless sign-in: six-digit codes by email, their lifetime and tries, throttles, and sessions re-checked."""

from __future__ import annotations

import copy
import datetime as dt

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal_core import companies, outbox
from portal_core.errors import (
    CodeRejected,
    DeliveryFailed,
    InvalidEmail,
    NotSignedIn,
    PortalError,
    PortalUnavailable,
    Throttled,
)
from portal_core.model.company import Company
from portal_core.model.contact import Contact
from portal_core.model.mail import Email
from portal_core.model.one_time_code import CodeStatus, OneTimeCode
from portal_core.model.outbox import OutboxMessage, OutboxStatus
from portal_core.sign_in import (
    REJECTED_MESSAGE,
    WAIT_MESSAGE,
    SignInPolicy,
    Viewer,
    current_viewer,
    request_sign_in_code,
    sign_out,
    verify_code,
)

from .conftest import Portal, code_in, make_portal

IP = "203.0.113.5"
HOMER = "homer@globex.example"


FLOW = "flow-of-the-clients-browser"


def request(portal: Portal, company: Company, email: str, ip: str = IP, flow: str = FLOW) -> str | None:
    """Asks for a code; returns the outbox id of its mail (None for an email that is no contact's)."""
    return request_sign_in_code(portal.uow, clock=portal.clock, randomness=portal.randomness,
                                templates=portal.templates, secrets=portal.secrets, policy=portal.policy,
                                link_token=company.link_token, email=email, ip=ip, flow=flow)


def dispatch(portal: Portal) -> list[outbox.Attempt]:
    return outbox.dispatch(portal.uow, sender=portal.sender, clock=portal.clock, randomness=portal.randomness)


def deliver(portal: Portal, queued: str | None) -> str:
    """Sends the queued mail through the recording sender and returns the code read back out of it."""
    assert queued is not None
    [attempt] = outbox.dispatch(portal.uow, sender=portal.sender, clock=portal.clock, randomness=portal.randomness,
                                ids=[queued])
    assert attempt.delivered, attempt.problem
    return code_in(portal.sender.outbox[-1])


def queued_email(portal: Portal, queued: str) -> Email:
    with portal.uow:
        message = portal.uow.outbox.get(queued)
    assert message is not None
    return message.email


def verify(portal: Portal, company: Company, email: str, code: str, ip: str = IP, flow: str = FLOW) -> str:
    cookie, session = verify_code(portal.uow, clock=portal.clock, randomness=portal.randomness,
                                  secrets=portal.secrets, policy=portal.policy, link_token=company.link_token,
                                  email=email, code=code, ip=ip, flow=flow)
    assert session.contact_id and session.company_id == company.id
    return cookie


def viewer(portal: Portal, company: Company, cookie: str | None) -> Viewer:
    return current_viewer(portal.uow, clock=portal.clock, policy=portal.policy, link_token=company.link_token,
                          cookie=cookie)


def codes(portal: Portal) -> list[OneTimeCode]:
    return list(portal.store.state.tables.get("codes", {}).values())


def other_code(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


@attrs.define
class Globex:
    portal: Portal
    company: Company
    homer: Contact

    def sign_in(self) -> str:
        code = deliver(self.portal, request(self.portal, self.company, HOMER))
        return verify(self.portal, self.company, HOMER, code)


@pytest.fixture
def globex(portal: Portal) -> Globex:
    company = portal.add_company("Globex LLC")
    return Globex(portal, company, portal.add_contact(company, "Homer Simpson", HOMER))


# ---- codes


def test_a_code_is_six_digits_mailed_to_the_contact(globex: Globex) -> None:
    portal = globex.portal
    queued = request(portal, globex.company, "  HOMER@globex.EXAMPLE ")
    assert queued is not None and queued_email(portal, queued).to == HOMER  # the address on record, not the typed
    code = deliver(portal, queued)
    assert len(code) == 6 and code.isdigit()
    assert [e.to for e in portal.sender.outbox] == [HOMER]
    assert "Falcon Facilities" in portal.sender.outbox[0].subject


@given(seed=st.integers(min_value=0, max_value=10**6))
@settings(max_examples=25, deadline=None)
def test_every_issued_code_is_six_digits(seed: int) -> None:
    portal = make_portal(seed=seed)
    company = portal.add_company("Globex LLC")
    portal.add_contact(company, "Homer", HOMER)
    code = deliver(portal, request(portal, company, HOMER))
    assert len(code) == 6 and code.isdigit()


def test_the_right_code_opens_a_session(globex: Globex) -> None:
    cookie = globex.sign_in()
    seen = viewer(globex.portal, globex.company, cookie)
    assert seen.contact.id == globex.homer.id and seen.company.id == globex.company.id
    assert cookie not in str(globex.portal.store.state.tables["sessions"])  # stored under a hash of the cookie


def test_spaces_and_case_in_what_the_client_types_do_not_matter(globex: Globex) -> None:
    portal = globex.portal
    code = deliver(portal, request(portal, globex.company, HOMER))
    assert verify(portal, globex.company, " Homer@Globex.Example ", f" {code[:3]} {code[3:]} ")


@pytest.mark.parametrize(("elapsed", "accepted"), [
    (dt.timedelta(minutes=9, seconds=59), True),
    (dt.timedelta(minutes=10), False),
    (dt.timedelta(hours=3), False),
])
def test_a_code_expires_at_ten_minutes(globex: Globex, elapsed: dt.timedelta, accepted: bool) -> None:
    portal = globex.portal
    code = deliver(portal, request(portal, globex.company, HOMER))
    portal.clock.advance(seconds=elapsed.total_seconds())
    if accepted:
        assert verify(portal, globex.company, HOMER, code)
    else:
        with pytest.raises(CodeRejected, match="not right, or it has expired"):
            verify(portal, globex.company, HOMER, code)


def test_a_code_works_once(globex: Globex) -> None:
    portal = globex.portal
    code = deliver(portal, request(portal, globex.company, HOMER))
    verify(portal, globex.company, HOMER, code)
    with pytest.raises(CodeRejected):
        verify(portal, globex.company, HOMER, code)
    assert [c.status for c in codes(portal)] == [CodeStatus.USED]


def test_five_wrong_tries_kill_the_code(globex: Globex) -> None:
    portal = globex.portal
    code = deliver(portal, request(portal, globex.company, HOMER))
    for _ in range(5):
        with pytest.raises(CodeRejected):
            verify(portal, globex.company, HOMER, other_code(code))
    with pytest.raises(CodeRejected):
        verify(portal, globex.company, HOMER, code)  # the sixth try, with the right code
    assert [(c.status, c.failed_attempts) for c in codes(portal)] == [(CodeStatus.DEAD, 5)]


def test_four_wrong_tries_leave_the_code_usable(globex: Globex) -> None:
    portal = globex.portal
    code = deliver(portal, request(portal, globex.company, HOMER))
    for _ in range(4):
        with pytest.raises(CodeRejected):
            verify(portal, globex.company, HOMER, other_code(code))
    assert verify(portal, globex.company, HOMER, code)


def test_a_new_code_ends_the_earlier_ones(globex: Globex) -> None:
    portal = globex.portal
    first = deliver(portal, request(portal, globex.company, HOMER))
    portal.clock.advance(minutes=2)
    second = deliver(portal, request(portal, globex.company, HOMER))
    if first != second:
        with pytest.raises(CodeRejected):
            verify(portal, globex.company, HOMER, first)
    statuses = sorted(codes(portal), key=lambda c: c.issued_at)
    assert [c.status for c in statuses] == [CodeStatus.DEAD, CodeStatus.ACTIVE]
    assert verify(portal, globex.company, HOMER, second)


def test_every_wrong_answer_gets_the_same_message(globex: Globex) -> None:
    portal, company = globex.portal, globex.company
    messages = set()
    for email, code in [(HOMER, "000000"), ("nobody@globex.example", "123456"), ("not an email", "1"),
                        (HOMER, "abcdef")]:
        with pytest.raises(CodeRejected) as caught:
            verify(portal, company, email, code)
        messages.add(str(caught.value))
    assert messages == {REJECTED_MESSAGE}


def test_codes_are_stored_only_as_a_keyed_hash(globex: Globex) -> None:
    portal = globex.portal
    code = deliver(portal, request(portal, globex.company, HOMER))
    (stored,) = codes(portal)
    for field in attrs.fields(OneTimeCode):
        assert code not in str(getattr(stored, field.name)), field.name
    assert code not in repr(stored)
    assert stored.code_hash != code and len(stored.code_hash) == 64
    # keyed: another secret gives another hash for the same id and code
    other = make_portal().secrets.codes.__class__.from_secret("another secret")
    assert other.hash(stored.id, code) != stored.code_hash
    assert portal.secrets.codes.matches(stored.id, code, stored.code_hash)


def test_audit_entries_never_hold_the_code_or_the_email(globex: Globex) -> None:
    portal, company = globex.portal, globex.company
    code = deliver(portal, request(portal, company, HOMER))
    with pytest.raises(CodeRejected):
        verify(portal, company, HOMER, other_code(code))
    cookie = verify(portal, company, HOMER, code)
    sign_out(portal.uow, clock=portal.clock, randomness=portal.randomness, cookie=cookie, ip=IP)
    request(portal, company, "stranger@nowhere.example", flow="another")
    entries = portal.store.state.audit
    assert {e.action for e in entries} >= {"code_issued", "code_failed", "signed_in", "signed_out",
                                           "code_requested_unknown_email"}
    for entry in entries:
        for value in attrs.astuple(entry):
            text = str(value).lower()
            assert code not in text and "homer" not in text and "stranger" not in text and cookie not in str(value)


# ---- delivery failures


def test_a_code_whose_mail_is_refused_is_retried_while_it_is_valid_and_then_never_usable(globex: Globex) -> None:
    portal = globex.portal
    queued = request(portal, globex.company, HOMER)
    assert queued is not None
    portal.sender.fail_with = "relay refused the message"
    [attempt] = dispatch(portal)
    assert not attempt.delivered and attempt.status == OutboxStatus.PENDING  # queued again, for 10 s later
    assert portal.sender.outbox == [] and [c.status for c in codes(portal)] == [CodeStatus.ACTIVE]
    with pytest.raises(DeliveryFailed, match="could not email your code"):  # the client is told, not "wrong code"
        verify(portal, globex.company, HOMER, "123456")
    assert dispatch(portal) == []  # not due yet
    waits = []
    while True:  # 10 s, 30 s, 2 min, ... until the code's ten minutes are up
        message = queued_email_message(portal, queued)
        if message.status != OutboxStatus.PENDING:
            break
        waits.append(round((message.next_attempt_at - portal.clock.now()).total_seconds()))
        portal.clock.set(message.next_attempt_at)
        dispatch(portal)
    assert waits == [10, 30, 120]
    assert queued_email_message(portal, queued).status == OutboxStatus.FAILED
    assert [c.status for c in codes(portal)] == [CodeStatus.UNDELIVERED]
    with pytest.raises(DeliveryFailed, match="could not email your code"):
        verify(portal, globex.company, HOMER, "123456")
    assert "code_undelivered" in {e.action for e in portal.store.state.audit}


def test_a_code_whose_mail_gets_through_on_a_retry_works(globex: Globex) -> None:
    portal = globex.portal
    queued = request(portal, globex.company, HOMER)
    portal.sender.fail_with = "relay down"
    dispatch(portal)
    portal.sender.fail_with = None
    portal.clock.advance(seconds=10)
    [attempt] = dispatch(portal)
    assert attempt.delivered and queued_email_message(portal, queued or "").status == OutboxStatus.SENT
    assert verify(portal, globex.company, HOMER, code_in(portal.sender.outbox[-1]))


def queued_email_message(portal: Portal, queued: str) -> OutboxMessage:
    with portal.uow:
        message = portal.uow.outbox.get(queued)
    assert message is not None
    return message


# ---- flows: a code belongs to the browser flow that asked for it


def test_a_code_works_only_in_the_flow_that_asked_for_it(globex: Globex) -> None:
    portal = globex.portal
    code = deliver(portal, request(portal, globex.company, HOMER, flow="victims-browser"))
    # The same right code typed in another browser (another flow, even at the same address) is a wrong code there,
    # with the wrong-code message and nothing else.
    with pytest.raises(CodeRejected) as caught:
        verify(portal, globex.company, HOMER, code, flow="attackers-browser")
    assert str(caught.value) == REJECTED_MESSAGE
    (stored,) = codes(portal)
    assert (stored.status, stored.failed_attempts) == (CodeStatus.ACTIVE, 0)  # the victim's code is untouched
    assert verify(portal, globex.company, HOMER, code, flow="victims-browser")


def test_requests_and_wrong_guesses_in_one_flow_never_touch_another_flows_code(globex: Globex) -> None:
    portal = globex.portal
    victims = deliver(portal, request(portal, globex.company, HOMER, ip="198.51.100.1", flow="victim"))
    for _ in range(3):
        portal.clock.advance(seconds=61)
        theirs = deliver(portal, request(portal, globex.company, HOMER, ip="203.0.113.66", flow="attacker"))
        for _ in range(5):
            with pytest.raises(CodeRejected):
                verify(portal, globex.company, HOMER, other_code(theirs), ip="203.0.113.66", flow="attacker")
    assert verify(portal, globex.company, HOMER, victims, ip="198.51.100.1", flow="victim")


def test_a_new_code_at_most_once_a_minute_per_flow(globex: Globex) -> None:
    portal = globex.portal
    assert request(portal, globex.company, HOMER)
    portal.clock.advance(seconds=30)
    with pytest.raises(Throttled) as caught:
        request(portal, globex.company, HOMER.upper())
    assert str(caught.value) == WAIT_MESSAGE
    assert request(portal, globex.company, HOMER, flow="another browser") is not None  # its own flow
    portal.clock.advance(seconds=31)
    assert request(portal, globex.company, HOMER)


# ---- throttles that a stranger cannot spend for the client


def test_three_code_requests_an_hour_per_email_from_one_address(globex: Globex) -> None:
    portal = globex.portal
    for n in range(3):
        assert request(portal, globex.company, HOMER, flow=f"tab {n}")
    with pytest.raises(Throttled):
        request(portal, globex.company, HOMER, flow="tab 4")
    assert request(portal, globex.company, HOMER, ip="198.51.100.9", flow="the client") is not None
    portal.clock.advance(minutes=60, seconds=1)
    assert request(portal, globex.company, HOMER, flow="tab 5") is not None


def test_ten_code_emails_an_hour_per_email_from_everywhere(globex: Globex) -> None:
    portal = globex.portal
    for n in range(10):
        assert request(portal, globex.company, HOMER, ip=f"198.51.100.{n}", flow=f"flow {n}")
        portal.clock.advance(minutes=1)
    with pytest.raises(Throttled):
        request(portal, globex.company, HOMER, ip="198.51.100.200", flow="flow 11")
    assert len([c for c in codes(portal)]) == 10
    portal.clock.advance(minutes=51)  # 61 minutes after the first
    assert request(portal, globex.company, HOMER, ip="198.51.100.201", flow="flow 12")


def test_per_ip_limit() -> None:
    portal = make_portal(SignInPolicy(per_ip_per_hour=3))
    company = portal.add_company("Globex LLC")
    portal.add_contact(company, "Homer", HOMER)
    for n in range(3):
        request(portal, company, f"guess{n}@globex.example", flow=f"f{n}")
    with pytest.raises(Throttled):
        request(portal, company, HOMER, flow="f9")
    assert codes(portal) == []
    assert request(portal, company, HOMER, ip="198.51.100.7") is not None  # another address is not throttled
    portal.clock.advance(minutes=61)
    assert request(portal, company, "guess9@globex.example", flow="f10") is None


def test_ipv6_addresses_count_per_slash_64() -> None:
    portal = make_portal(SignInPolicy(per_ip_per_hour=2))
    company = portal.add_company("Globex LLC")
    for n, ip in enumerate(["2001:db8:1:2::1", "2001:db8:1:2:ffff::9"]):
        request(portal, company, f"guess{n}@globex.example", ip=ip, flow=f"f{n}")
    with pytest.raises(Throttled):  # the same /64, however the last 64 bits are chosen
        request(portal, company, "guess3@globex.example", ip="2001:db8:1:2:dead:beef:0:1", flow="f3")
    assert request(portal, company, "guess4@globex.example", ip="2001:db8:1:3::1", flow="f4") is None


def test_fifty_wrong_codes_an_hour_per_address_then_the_verify_step_answers_429(globex: Globex) -> None:
    portal = globex.portal
    for n in range(50):
        with pytest.raises(CodeRejected):
            verify(portal, globex.company, f"guess{n}@globex.example", "123456", flow=f"f{n}")
    code = deliver(portal, request(portal, globex.company, HOMER, ip="198.51.100.3", flow="client"))
    with pytest.raises(Throttled):  # even the right code from that address waits out the hour
        verify(portal, globex.company, HOMER, code, flow="client")
    assert verify(portal, globex.company, HOMER, code, ip="198.51.100.3", flow="client")  # the client's own
    portal.clock.advance(minutes=61)
    with pytest.raises(CodeRejected):
        verify(portal, globex.company, HOMER, "000000", flow="f0")


def test_throttled_and_malformed_requests_write_nothing(globex: Globex) -> None:
    portal = globex.portal
    assert request(portal, globex.company, HOMER)
    before = copy.deepcopy(portal.store.state)
    for _ in range(5):
        with pytest.raises(Throttled):
            request(portal, globex.company, HOMER)
        with pytest.raises(InvalidEmail):
            request(portal, globex.company, "not an email", flow="other")
    assert portal.store.state == before


def test_the_lock_out_attack_leaves_the_client_able_to_sign_in(globex: Globex) -> None:
    """An attacker with the link keeps asking for the client's codes and guessing, all hour long."""
    portal = globex.portal
    attacker = "203.0.113.66"
    for minute in range(60):
        for tab in range(3):
            try:
                request(portal, globex.company, HOMER, ip=attacker, flow=f"attacker {minute}/{tab}")
            except Throttled:
                pass
            for _ in range(5):
                try:
                    verify(portal, globex.company, HOMER, "000000", ip=attacker, flow=f"attacker {minute}/{tab}")
                except (CodeRejected, Throttled):
                    pass
        portal.clock.advance(seconds=59)
        if minute % 20 == 19:  # the client signs in now and then, from home, and gets in each time
            code = deliver(portal, request(portal, globex.company, HOMER, ip="198.51.100.20", flow=f"client {minute}"))
            assert verify(portal, globex.company, HOMER, code, ip="198.51.100.20", flow=f"client {minute}")


def test_the_same_email_at_two_companies_has_separate_limits(portal: Portal) -> None:
    globex = portal.add_company("Globex LLC")
    initech = portal.add_company("Initech")
    portal.add_contact(globex, "Homer", "shared@both.example")
    portal.add_contact(initech, "Homer at Initech", "shared@both.example")
    for n in range(3):
        assert request(portal, globex, "shared@both.example", flow=f"g{n}")
        assert request(portal, initech, "shared@both.example", flow=f"i{n}")
    with pytest.raises(Throttled):
        request(portal, globex, "shared@both.example", flow="g9")
    with pytest.raises(Throttled):
        request(portal, initech, "shared@both.example", flow="i9")


# ---- no enumeration


def _trace(portal: Portal, company: Company, email: str) -> list[str]:
    """What a caller can observe from a series of requests for one email: returns and raises, in order."""
    seen = []
    for n, step in enumerate([0, 10, 50, 120, 240, 360, 480, 600, 3700]):
        portal.clock.set(portal.clock.now() + dt.timedelta(seconds=step))
        try:
            result = request(portal, company, email, flow=f"flow {n // 2}")
            seen.append("ok")
            assert result is None or isinstance(result, str)
        except PortalError as exc:
            seen.append(f"{type(exc).__name__}: {exc}")
    return seen


def test_known_and_unknown_emails_are_treated_alike(portal: Portal) -> None:
    globex = portal.add_company("Globex LLC")
    initech = portal.add_company("Initech")
    portal.add_contact(globex, "Homer", HOMER)
    portal.add_contact(initech, "Peter", "peter@initech.example")
    known = _trace(portal, globex, HOMER)
    of_another_company = _trace(portal, globex, "peter@initech.example")
    of_no_one = _trace(portal, globex, "nobody@nowhere.example")
    assert known == of_another_company == of_no_one
    assert "ok" in known and any(s.startswith("Throttled") for s in known)


def test_only_a_contact_of_this_company_is_mailed(portal: Portal) -> None:
    globex = portal.add_company("Globex LLC")
    initech = portal.add_company("Initech")
    portal.add_contact(initech, "Peter", "peter@initech.example")
    assert request(portal, globex, "peter@initech.example") is None
    assert request(portal, globex, "nobody@nowhere.example", flow="another") is None
    assert codes(portal) == []
    with pytest.raises(InvalidEmail):
        request(portal, globex, "not an email")


@given(typed=st.sampled_from(["homer@globex.example", "HOMER@GLOBEX.EXAMPLE", "peter@initech.example",
                              "marge@globex.example", "x@y.example", " bart@school.example "]),
       via=st.sampled_from(["globex", "initech"]))
@settings(max_examples=30, deadline=None)
def test_a_code_only_ever_goes_to_a_contact_of_the_portals_company(typed: str, via: str) -> None:
    portal = make_portal()
    companies = {"globex": portal.add_company("Globex LLC"), "initech": portal.add_company("Initech")}
    portal.add_contact(companies["globex"], "Homer", HOMER)
    portal.add_contact(companies["globex"], "Bart", "Bart@School.example")
    portal.add_contact(companies["initech"], "Peter", "peter@initech.example")
    company = companies[via]
    queued = request(portal, company, typed)
    with portal.uow:
        addresses = {c.email for c in portal.uow.contacts.list_for_company(company.id)}
    if queued is None:
        assert typed.strip().lower() not in {a.lower() for a in addresses}
        assert codes(portal) == []
    else:
        to = queued_email(portal, queued).to
        assert to in addresses and to.lower() == typed.strip().lower()
        assert [c.company_id for c in codes(portal)] == [company.id]


def test_a_disabled_or_unknown_portal_does_not_send_codes(globex: Globex) -> None:
    portal = globex.portal
    companies.set_portal_access(portal.uow, globex.company.name, enabled=False)
    with pytest.raises(PortalUnavailable):
        request(portal, globex.company, HOMER)
    with pytest.raises(PortalUnavailable):
        request(portal, attrs.evolve(globex.company, link_token="x" * 32), HOMER)
    assert codes(portal) == []


# ---- sessions: re-checked on every call


def test_disabling_access_ends_the_session_at_once(globex: Globex) -> None:
    portal = globex.portal
    cookie = globex.sign_in()
    assert viewer(portal, globex.company, cookie)
    companies.set_portal_access(portal.uow, globex.company.name, enabled=False)
    with pytest.raises((PortalUnavailable, NotSignedIn)):
        viewer(portal, globex.company, cookie)
    companies.set_portal_access(portal.uow, globex.company.name, enabled=True)
    with pytest.raises(NotSignedIn):  # turned back on, the old session stays dead: a new sign-in is needed
        viewer(portal, globex.company, cookie)
    portal.clock.advance(seconds=61)
    assert viewer(portal, globex.company, globex.sign_in())


def test_a_disable_by_anyone_else_who_moves_the_generation_ends_sessions_too(globex: Globex) -> None:
    portal = globex.portal
    cookie = globex.sign_in()
    with portal.uow:  # an embedder's own code, writing the company the way its CRM does
        company = portal.uow.companies.get(globex.company.id)
        assert company is not None
        company.set_access(False)
        company.set_access(True)
        portal.uow.companies.update(company)
        portal.uow.commit()
    with pytest.raises(NotSignedIn):
        viewer(portal, globex.company, cookie)


def test_removing_the_contact_ends_the_session_at_once(globex: Globex) -> None:
    portal = globex.portal
    cookie = globex.sign_in()
    companies.remove_contact(portal.uow, globex.company.name, HOMER)
    with pytest.raises(NotSignedIn):
        viewer(portal, globex.company, cookie)
    portal.add_contact(globex.company, "Homer Simpson", HOMER)  # a new contact record with the same email
    with pytest.raises(NotSignedIn):
        viewer(portal, globex.company, cookie)


def test_changing_the_contacts_email_ends_the_session_at_once(globex: Globex) -> None:
    portal = globex.portal
    cookie = globex.sign_in()
    companies.change_contact_email(portal.uow, globex.homer.id, "homer.j@globex.example")
    with pytest.raises(NotSignedIn):
        viewer(portal, globex.company, cookie)


def test_changing_only_the_case_of_the_email_keeps_the_session(globex: Globex) -> None:
    portal = globex.portal
    cookie = globex.sign_in()
    companies.change_contact_email(portal.uow, globex.homer.id, "Homer@Globex.example")
    assert viewer(portal, globex.company, cookie).contact.email == "Homer@Globex.example"


def test_rotating_the_link_ends_the_session_at_once(globex: Globex) -> None:
    portal = globex.portal
    cookie = globex.sign_in()
    rotated = companies.rotate_link(portal.uow, randomness=portal.randomness, company_key=globex.company.name)
    assert rotated.link_token != globex.company.link_token
    with pytest.raises(PortalUnavailable):
        viewer(portal, globex.company, cookie)  # the old link is dead
    with pytest.raises(NotSignedIn):
        viewer(portal, rotated, cookie)  # and the session opened under it does not carry over


def test_signing_out_ends_the_session(globex: Globex) -> None:
    portal = globex.portal
    cookie = globex.sign_in()
    sign_out(portal.uow, clock=portal.clock, randomness=portal.randomness, cookie=cookie, ip=IP)
    with pytest.raises(NotSignedIn):
        viewer(portal, globex.company, cookie)


def test_a_session_belongs_to_one_company(portal: Portal) -> None:
    globex = portal.add_company("Globex LLC")
    initech = portal.add_company("Initech")
    portal.add_contact(globex, "Homer", "shared@both.example")
    portal.add_contact(initech, "Homer", "shared@both.example")
    code = deliver(portal, request(portal, globex, "shared@both.example"))
    with pytest.raises(CodeRejected):
        verify(portal, initech, "shared@both.example", code)
    cookie = verify(portal, globex, "shared@both.example", code)
    with pytest.raises(NotSignedIn):
        viewer(portal, initech, cookie)


@pytest.mark.parametrize("cookie", [None, "", "made-up-cookie"])
def test_no_or_an_unknown_cookie_is_not_signed_in(globex: Globex, cookie: str | None) -> None:
    with pytest.raises(NotSignedIn):
        viewer(globex.portal, globex.company, cookie)


def test_idle_timeout_is_sixty_minutes(globex: Globex) -> None:
    portal = globex.portal
    cookie = globex.sign_in()
    for _ in range(3):  # activity keeps it alive well past an hour
        portal.clock.advance(minutes=59)
        assert viewer(portal, globex.company, cookie)
    portal.clock.advance(minutes=60)
    with pytest.raises(NotSignedIn):
        viewer(portal, globex.company, cookie)


def test_absolute_lifetime_is_twenty_four_hours(globex: Globex) -> None:
    portal = globex.portal
    cookie = globex.sign_in()
    signed_in_at = portal.clock.now()
    while portal.clock.now() + dt.timedelta(minutes=50) < signed_in_at + dt.timedelta(hours=24):
        portal.clock.advance(minutes=50)
        assert viewer(portal, globex.company, cookie)
    portal.clock.set(signed_in_at + dt.timedelta(hours=24))
    with pytest.raises(NotSignedIn):
        viewer(portal, globex.company, cookie)


def test_a_new_sign_in_gives_a_new_cookie(globex: Globex) -> None:
    portal = globex.portal
    first = globex.sign_in()
    portal.clock.advance(minutes=2)
    second = globex.sign_in()
    assert first != second
    assert viewer(portal, globex.company, second)


def test_the_mail_of_a_replaced_or_expired_code_is_never_sent(globex: Globex) -> None:
    portal = globex.portal
    portal.sender.fail_with = "relay down"
    first = request(portal, globex.company, HOMER)
    dispatch(portal)  # refused: queued again for 10 s later
    portal.clock.advance(seconds=61)
    second = request(portal, globex.company, HOMER)  # the same flow asks again: the first code is ended
    portal.sender.fail_with = None
    sent = {a.message_id: a.delivered for a in dispatch(portal)}
    assert sent == {first: False, second: True}
    assert queued_email_message(portal, first or "").status == OutboxStatus.FAILED
    assert len(portal.sender.outbox) == 1  # only the live code went out

    # No dispatcher ran for the whole life of a code: its mail is not sent late.
    portal.clock.advance(seconds=61)
    third = request(portal, globex.company, HOMER)
    portal.clock.advance(minutes=11)
    [attempt] = dispatch(portal)
    assert attempt.message_id == third and not attempt.delivered and len(portal.sender.outbox) == 1
