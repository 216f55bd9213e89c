"""A state machine over the life of sign-in codes, checked against a model of the rules.

Invariant: a session exists only after a right, unexpired, unused code for a contact whose access is enabled.
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from portal_core import companies, outbox
from portal_core.errors import CodeRejected, NotSignedIn, PortalUnavailable, Throttled
from portal_core.model.one_time_code import CodeStatus
from portal_core.sign_in import SignInPolicy, current_viewer, request_sign_in_code, verify_code

from .conftest import code_in, make_portal

EMAIL = "homer@globex.example"
IP = "203.0.113.5"
FLOW = "the one browser"
LIFETIME = dt.timedelta(minutes=10)


class CodeLifecycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        # Looser throttles than the product's, so runs spend their steps on codes rather than on waiting; the
        # model still predicts every throttled request.
        # One browser flow at one address: a new code at most once a minute, and (loosened) 12 an hour.
        self.portal = make_portal(SignInPolicy(per_email_and_ip_per_hour=12, per_email_per_hour=12,
                                               wrong_codes_per_ip_per_hour=1_000_000))
        self.company = self.portal.add_company("Globex LLC")
        self.contact = self.portal.add_contact(self.company, "Homer", EMAIL)
        # the model
        self.enabled = True
        self.code: str | None = None
        self.issued_at: dt.datetime | None = None
        self.wrong = 0
        self.used = False
        self.requests: list[dt.datetime] = []
        self.sessions: dict[str, dt.datetime] = {}  # session id -> when the model allowed it
        self.cookies: dict[str, str] = {}  # session id -> its cookie
        self.revoked: set[str] = set()  # sessions that existed when access was turned off

    @property
    def now(self) -> dt.datetime:
        return self.portal.clock.now()

    def code_usable(self) -> bool:
        return (self.code is not None and self.issued_at is not None and not self.used and self.wrong < 5
                and self.now < self.issued_at + LIFETIME)

    def throttled(self) -> bool:
        last_minute = sum(1 for at in self.requests if at >= self.now - dt.timedelta(seconds=60))
        last_hour = sum(1 for at in self.requests if at >= self.now - dt.timedelta(hours=1))
        policy = self.portal.policy
        return last_minute >= 1 or last_hour >= policy.per_email_and_ip_per_hour

    def attempt(self, code: str) -> str | None:
        """Calls verify_code; returns the new session id, or None when the code was rejected."""
        portal = self.portal
        try:
            _cookie, session = verify_code(portal.uow, clock=portal.clock, randomness=portal.randomness,
                                           secrets=portal.secrets, policy=portal.policy,
                                           link_token=self.company.link_token, email=EMAIL, code=code, ip=IP,
                                           flow=FLOW)
        except CodeRejected:
            return None
        self.cookie = _cookie
        return session.id

    @rule()
    def request_code(self) -> None:
        portal = self.portal
        call = dict(clock=portal.clock, randomness=portal.randomness, templates=portal.templates,
                    secrets=portal.secrets, policy=portal.policy, link_token=self.company.link_token, email=EMAIL,
                    ip=IP, flow=FLOW)
        if not self.enabled:
            with pytest.raises(PortalUnavailable):
                request_sign_in_code(portal.uow, **call)  # type: ignore[arg-type]
            return
        if self.throttled():
            with pytest.raises(Throttled):
                request_sign_in_code(portal.uow, **call)  # type: ignore[arg-type]
            return
        queued = request_sign_in_code(portal.uow, **call)  # type: ignore[arg-type]
        assert queued is not None
        [attempt] = outbox.dispatch(portal.uow, sender=portal.sender, clock=portal.clock,
                                    randomness=portal.randomness, ids=[queued])
        assert attempt.delivered
        self.requests.append(self.now)
        self.code, self.issued_at, self.wrong, self.used = code_in(portal.sender.outbox[-1]), self.now, 0, False

    @rule(offsets=st.lists(st.integers(min_value=1, max_value=999_999), min_size=1, max_size=3))
    def wrong_tries(self, offsets: list[int]) -> None:
        """One or more wrong codes in a row (a run of them is how a code dies)."""
        for offset in offsets:
            wrong = f"{(int(self.code or '0') + offset) % 1_000_000:06d}"
            if not self.enabled:
                with pytest.raises(PortalUnavailable):
                    self.attempt(wrong)
                continue
            usable = self.code_usable()
            assert self.attempt(wrong) is None
            if usable:
                self.wrong += 1

    @precondition(lambda self: self.code is not None)
    @rule()
    def right_try(self) -> None:
        assert self.code is not None
        if not self.enabled:
            with pytest.raises(PortalUnavailable):
                self.attempt(self.code)
            return
        expected = self.code_usable()
        session_id = self.attempt(self.code)
        assert (session_id is not None) == expected, (self.now, self.issued_at, self.wrong, self.used)
        if session_id is not None:
            self.used = True
            self.sessions[session_id] = self.now
            self.cookies[session_id] = self.cookie
            viewer = current_viewer(self.portal.uow, clock=self.portal.clock, policy=self.portal.policy,
                                    link_token=self.company.link_token, cookie=self.cookie)
            assert viewer.contact.id == self.contact.id

    @rule(minutes=st.integers(min_value=0, max_value=3) | st.integers(min_value=4, max_value=11),
          seconds=st.sampled_from([0, 0, 1, 59]))
    def clock_moves(self, minutes: int, seconds: int) -> None:
        self.portal.clock.advance(minutes=minutes, seconds=seconds)

    @rule(enabled=st.sampled_from([True, True, False]))
    def set_access(self, enabled: bool) -> None:
        companies.set_portal_access(self.portal.uow, self.company.name, enabled=enabled)
        if self.enabled and not enabled:
            self.revoked |= set(self.sessions)
        self.enabled = enabled

    @invariant()
    def a_session_from_before_access_was_turned_off_stays_dead(self) -> None:
        if not self.enabled:
            return
        for session_id in self.revoked:
            with pytest.raises(NotSignedIn):
                current_viewer(self.portal.uow, clock=self.portal.clock, policy=self.portal.policy,
                               link_token=self.company.link_token, cookie=self.cookies[session_id])

    @invariant()
    def sessions_exist_only_where_the_model_allowed_them(self) -> None:
        stored = self.portal.store.state.tables.get("sessions", {})
        assert set(stored) == set(self.sessions)
        for session_id, session in stored.items():
            assert session.created_at == self.sessions[session_id]
            assert session.contact_id == self.contact.id and session.company_id == self.company.id

    @invariant()
    def at_most_one_code_is_active(self) -> None:
        active = [c for c in self.portal.store.state.tables.get("codes", {}).values()
                  if c.status == CodeStatus.ACTIVE]
        assert len(active) <= 1


CodeLifecycle.TestCase.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
TestCodeLifecycle = CodeLifecycle.TestCase
