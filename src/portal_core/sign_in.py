"""Passwordless sign-in: request a six-digit code by email, verify it, and hold a server-side session."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

import attrs

from portal_core.access import open_portal
from portal_core.errors import CodeRejected, DeliveryFailed, InvalidEmail, NotSignedIn, PortalUnavailable, Throttled
from portal_core.identity import new_id
from portal_core.model.audit import AuditEntry
from portal_core.model.company import Company
from portal_core.model.contact import Contact, email_key, normalise_email
from portal_core.model.mail import Email, SignInCodeNotice
from portal_core.model.one_time_code import CODE_DIGITS, CODE_LIFETIME, CodeHasher, CodeStatus, OneTimeCode
from portal_core.model.session import (
    DEFAULT_ABSOLUTE_LIFETIME,
    DEFAULT_IDLE_TIMEOUT,
    PortalSession,
    session_key,
)
from portal_core.ports import Clock, EmailSender, EmailTemplates, Randomness, UnitOfWork

SESSION_TOKEN_BYTES = 32
WAIT_MESSAGE = "Too many code requests. Please wait a few minutes before asking for another code."
REJECTED_MESSAGE = "That code is not right, or it has expired. Check the latest email, or ask for a new code."
UNDELIVERED_MESSAGE = ("We could not email your code just now. Please ask for a new code in a few minutes, "
                       "or contact us if it keeps happening.")
# How often the last-seen time of a session is written: often enough for the idle timeout, rarely enough to not
# turn every page view into a write.
_TOUCH_EVERY = dt.timedelta(minutes=1)


@attrs.frozen(kw_only=True)
class SignInPolicy:
    """The limits of the sign-in flow; the defaults are the product's, the settings may tighten them."""

    per_contact_per_minute: int = 1
    per_contact_per_hour: int = 5
    per_ip_per_hour: int = 100
    idle_timeout: dt.timedelta = DEFAULT_IDLE_TIMEOUT
    absolute_lifetime: dt.timedelta = DEFAULT_ABSOLUTE_LIFETIME


@attrs.frozen
class ThrottleKeys:
    """Keys for the throttle log: keyed hashes, so the table holds neither addresses nor emails."""

    key: bytes = attrs.field(repr=False)

    @classmethod
    def from_secret(cls, secret: str) -> ThrottleKeys:
        return cls(hmac.new(secret.encode(), b"portal throttle keys v1", hashlib.sha256).digest())

    def for_ip(self, ip: str) -> str:
        return "ip:" + hmac.new(self.key, ip.encode(), hashlib.sha256).hexdigest()[:40]

    def for_email(self, company_id: str, address_key: str) -> str:
        return "em:" + hmac.new(self.key, f"{company_id}:{address_key}".encode(), hashlib.sha256).hexdigest()[:40]


@attrs.frozen(kw_only=True)
class SignInSecrets:
    codes: CodeHasher
    throttle: ThrottleKeys

    @classmethod
    def from_secret(cls, secret: str) -> SignInSecrets:
        return cls(codes=CodeHasher.from_secret(secret), throttle=ThrottleKeys.from_secret(secret))


@attrs.frozen(kw_only=True)
class CodeDelivery:
    """A code waiting to be mailed: the web layer sends it off the request path with deliver_sign_in_code."""

    code_id: str
    email: Email


@attrs.frozen(kw_only=True)
class Viewer:
    """A signed-in contact whose access was checked on this request."""

    company: Company
    contact: Contact
    session_id: str


def _audit(uow: UnitOfWork, randomness: Randomness, clock: Clock, action: str, *, company_id: str | None,
           contact_id: str | None = None, ip: str | None = None, detail: str = "") -> None:
    uow.audit.append(AuditEntry(id=new_id(randomness), at=clock.now(), action=action, company_id=company_id,
                                contact_id=contact_id, ip=ip, detail=detail))


def request_sign_in_code(uow: UnitOfWork, *, clock: Clock, randomness: Randomness, templates: EmailTemplates,
                         secrets: SignInSecrets, policy: SignInPolicy, link_token: str, email: str,
                         ip: str) -> CodeDelivery | None:
    """Issues a code when the email is a contact of this portal's company; answers alike when it is not.

    Raises PortalUnavailable, InvalidEmail (malformed address) and Throttled. The throttles count requests per
    address typed, not per contact found, so being throttled says nothing about whether the email exists.
    """
    with uow:
        company = open_portal(uow, link_token)
        now = clock.now()
        ip_key = secrets.throttle.for_ip(ip)
        if uow.login_requests.count_since(ip_key, now - dt.timedelta(hours=1)) >= policy.per_ip_per_hour:
            _audit(uow, randomness, clock, "throttled", company_id=company.id, ip=ip, detail="per-address limit")
            uow.commit()
            raise Throttled(WAIT_MESSAGE)
        try:
            address = normalise_email(email)
        except InvalidEmail:
            raise InvalidEmail("Enter a valid email address, like name@example.com.") from None
        address_key = secrets.throttle.for_email(company.id, email_key(address))
        recent_minute = uow.login_requests.count_since(address_key, now - dt.timedelta(seconds=60))
        recent_hour = uow.login_requests.count_since(address_key, now - dt.timedelta(hours=1))
        if recent_minute >= policy.per_contact_per_minute or recent_hour >= policy.per_contact_per_hour:
            _audit(uow, randomness, clock, "throttled", company_id=company.id, ip=ip, detail="per-email limit")
            uow.commit()
            raise Throttled(WAIT_MESSAGE)
        uow.login_requests.record(ip_key, now)
        uow.login_requests.record(address_key, now)
        contact = uow.contacts.find(company.id, email_key(address))
        if contact is None:
            _audit(uow, randomness, clock, "code_requested_unknown_email", company_id=company.id, ip=ip)
            uow.commit()
            return None
        for earlier in uow.codes.active_for_contact(contact.id, lock=True):
            earlier.end()
            uow.codes.update(earlier)
        plain = randomness.digits(CODE_DIGITS)
        code = OneTimeCode.issue(id=new_id(randomness), contact_id=contact.id, company_id=company.id, code=plain,
                                 hasher=secrets.codes, now=now)
        uow.codes.add(code)
        _audit(uow, randomness, clock, "code_issued", company_id=company.id, contact_id=contact.id, ip=ip)
        business = uow.business.get()
        if business is None:
            raise PortalUnavailable("the portal is not set up: no business")
        notice = SignInCodeNotice(business=business, company_name=company.name, contact_name=contact.name,
                                  code=plain, valid_minutes=int(CODE_LIFETIME.total_seconds() // 60))
        delivery = CodeDelivery(code_id=code.id, email=templates.render(notice, to=contact.email))
        uow.commit()
    return delivery


def deliver_sign_in_code(uow: UnitOfWork, *, sender: EmailSender, clock: Clock, randomness: Randomness,
                         delivery: CodeDelivery) -> None:
    """Mails the code. If the relay refuses it, the code is ended (nobody got it) and DeliveryFailed re-raised."""
    try:
        sender.send(delivery.email)
    except DeliveryFailed:
        with uow:
            code = uow.codes.get(delivery.code_id)
            if code is not None and code.status == CodeStatus.ACTIVE:
                code.status = CodeStatus.UNDELIVERED
                uow.codes.update(code)
                _audit(uow, randomness, clock, "code_undelivered", company_id=code.company_id,
                       contact_id=code.contact_id)
            uow.commit()
        raise


def verify_code(uow: UnitOfWork, *, clock: Clock, randomness: Randomness, secrets: SignInSecrets, link_token: str,
                email: str, code: str, ip: str) -> tuple[str, PortalSession]:
    """A right, unexpired, unused code opens a new session: returns (cookie value, session).

    Raises PortalUnavailable, CodeRejected (the same message for every wrong case), and DeliveryFailed when the
    latest code never reached the mail relay.
    """
    code = code.strip().replace(" ", "")
    with uow:
        company = open_portal(uow, link_token)
        now = clock.now()
        try:
            contact = uow.contacts.find(company.id, email_key(normalise_email(email)))
        except InvalidEmail:
            contact = None
        if contact is None:
            _audit(uow, randomness, clock, "code_failed", company_id=company.id, ip=ip)
            uow.commit()
            raise CodeRejected(REJECTED_MESSAGE)
        active = [c for c in uow.codes.active_for_contact(contact.id, lock=True) if c.is_usable(now)]
        if not active:
            latest = uow.codes.latest_for_contact(contact.id)
            if latest is not None and latest.status == CodeStatus.UNDELIVERED:
                raise DeliveryFailed(UNDELIVERED_MESSAGE)
        for candidate in active:
            accepted = candidate.try_code(code, secrets.codes, now)
            uow.codes.update(candidate)
            if accepted:
                cookie = randomness.token(SESSION_TOKEN_BYTES)
                session = PortalSession(id=session_key(cookie), contact_id=contact.id, company_id=company.id,
                                        link_token=company.link_token, email_key=contact.email_key,
                                        created_at=now, last_seen_at=now)
                uow.sessions.add(session)
                _audit(uow, randomness, clock, "signed_in", company_id=company.id, contact_id=contact.id, ip=ip)
                uow.commit()
                return cookie, session
        _audit(uow, randomness, clock, "code_failed", company_id=company.id, contact_id=contact.id, ip=ip)
        uow.commit()
    raise CodeRejected(REJECTED_MESSAGE)


def current_viewer(uow: UnitOfWork, *, clock: Clock, policy: SignInPolicy, link_token: str,
                   cookie: str | None) -> Viewer:
    """Re-checks everything on every request: session live, link current, access enabled, contact unchanged.

    Raises PortalUnavailable (the link itself is dead) or NotSignedIn.
    """
    with uow:
        viewer = viewer_in(uow, clock=clock, policy=policy, link_token=link_token, cookie=cookie)
        uow.commit()
    return viewer


def viewer_in(uow: UnitOfWork, *, clock: Clock, policy: SignInPolicy, link_token: str,
              cookie: str | None) -> Viewer:
    """current_viewer inside a unit of work the caller has open, so a page can read the rest of what it needs in
    the same transaction. It may record the session's last-seen time: the caller commits."""
    company = open_portal(uow, link_token)
    if not cookie:
        raise NotSignedIn("please sign in")
    now = clock.now()
    session = uow.sessions.get(session_key(cookie))
    if (session is None or not session.is_live(now, policy.idle_timeout, policy.absolute_lifetime)
            or session.company_id != company.id or session.link_token != company.link_token):
        raise NotSignedIn("your session has ended; please sign in again")
    contact = uow.contacts.get(session.contact_id)
    if contact is None or contact.company_id != company.id or contact.email_key != session.email_key:
        raise NotSignedIn("your session has ended; please sign in again")
    if now - session.last_seen_at >= _TOUCH_EVERY:
        session.last_seen_at = now
        uow.sessions.update(session)
    return Viewer(company=company, contact=contact, session_id=session.id)


def sign_out(uow: UnitOfWork, *, clock: Clock, randomness: Randomness, cookie: str | None, ip: str) -> None:
    if not cookie:
        return
    with uow:
        session = uow.sessions.get(session_key(cookie))
        if session is None or session.ended_at is not None:
            return
        session.end(clock.now())
        uow.sessions.update(session)
        _audit(uow, randomness, clock, "signed_out", company_id=session.company_id, contact_id=session.contact_id,
               ip=ip)
        uow.commit()
