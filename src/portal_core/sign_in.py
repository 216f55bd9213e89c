"""Passwordless sign-in: request a six-digit code by email, verify it, and hold a server-side session."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress

import attrs

from portal_core import languages, outbox, records, webhooks
from portal_core.companies import open_portal
from portal_core.errors import (
    CodeRejected,
    DeliveryFailed,
    InvalidEmail,
    InvalidInput,
    NotSignedIn,
    PortalUnavailable,
    Throttled,
)
from portal_core.ids import new_id
from portal_core.model.business import Business
from portal_core.model.company import Company
from portal_core.model.contact import Contact, email_key, normalise_email
from portal_core.model.mail import SignInCodeNotice
from portal_core.model.one_time_code import CODE_DIGITS, CODE_LIFETIME, CodeHasher, CodeStatus, OneTimeCode
from portal_core.model.outbox import MailPurpose
from portal_core.model.session import (
    DEFAULT_ABSOLUTE_LIFETIME,
    DEFAULT_IDLE_TIMEOUT,
    PortalSession,
    session_key,
)
from portal_core.model.webhook import EventType
from portal_core.ports import Clock, EmailTemplates, PageRows, Randomness, SignedInReads, UnitOfWork

SESSION_TOKEN_BYTES = 32
FLOW_TOKEN_BYTES = 16
WAIT_MESSAGE = "Too many code requests. Please wait a few minutes before asking for another code."
WRONG_CODES_MESSAGE = "Too many wrong codes from your network. Please wait an hour and try again."
REJECTED_MESSAGE = "That code is not right, or it has expired. Check the latest email, or ask for a new code."
UNDELIVERED_MESSAGE = ("We could not email your code just now. We keep trying while it is valid; please ask for a "
                       "new code in a few minutes, or contact us if it keeps happening.")
# How often the last-seen time of a session is written: often enough for the idle timeout, rarely enough to not
# turn every page view into a write.
_TOUCH_EVERY = dt.timedelta(minutes=1)
_HOUR = dt.timedelta(hours=1)


@attrs.frozen(kw_only=True)
class SignInPolicy:
    """The limits of the sign-in flow; the defaults are the product's, the settings may tighten them.

    Every limit is one a stranger cannot spend for the client: the ones on an email are split by client address,
    and a code belongs to the browser flow that asked for it, so guesses in one flow never touch another's code.
    """

    per_flow_interval: dt.timedelta = dt.timedelta(seconds=60)  # a new code in one flow at most this often
    per_email_per_hour: int = 10  # code emails to one address of a company, from everywhere
    per_email_and_ip_per_hour: int = 3  # code requests for one address from one client address
    per_ip_per_hour: int = 100  # code requests from one client address (IPv6: one /64)
    wrong_codes_per_ip_per_hour: int = 50  # wrong codes from one client address, across all flows
    idle_timeout: dt.timedelta = DEFAULT_IDLE_TIMEOUT
    absolute_lifetime: dt.timedelta = DEFAULT_ABSOLUTE_LIFETIME


def client_network(ip: str) -> str:
    """The unit a client address is counted in: an IPv4 address, or the /64 of an IPv6 one (one subscriber's
    network hands out a whole /64, so counting single IPv6 addresses would count nothing)."""
    try:
        address = ipaddress.ip_address(ip.strip().split("%", 1)[0])
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


@attrs.frozen
class ThrottleKeys:
    """Keys for the throttle log and the flows: keyed hashes, so the tables hold no address, email or cookie."""

    key: bytes = attrs.field(repr=False)

    @classmethod
    def from_secret(cls, secret: str) -> ThrottleKeys:
        return cls(hmac.new(secret.encode(), b"portal throttle keys v1", hashlib.sha256).digest())

    def _hash(self, prefix: str, *parts: str) -> str:
        return prefix + hmac.new(self.key, "\x00".join(parts).encode(), hashlib.sha256).hexdigest()[:40]

    def for_ip(self, ip: str) -> str:
        return self._hash("ip:", client_network(ip))

    def for_email(self, company_id: str, address_key: str) -> str:
        return self._hash("em:", company_id, address_key)

    def for_email_and_ip(self, company_id: str, address_key: str, ip: str) -> str:
        return self._hash("ei:", company_id, address_key, client_network(ip))

    def for_flow(self, flow: str) -> str:
        return self._hash("fl:", flow)

    def for_wrong_codes(self, ip: str) -> str:
        return self._hash("wc:", client_network(ip))

    def for_client_requests(self, contact_id: str) -> str:
        return self._hash("rq:", contact_id)

    def flow_key(self, flow: str) -> str:
        """What a code stores of the flow that asked for it."""
        return self._hash("", "flow", flow)


@attrs.frozen(kw_only=True)
class SignInSecrets:
    codes: CodeHasher
    throttle: ThrottleKeys

    @classmethod
    def from_secret(cls, secret: str) -> SignInSecrets:
        return cls(codes=CodeHasher.from_secret(secret), throttle=ThrottleKeys.from_secret(secret))


@attrs.frozen(kw_only=True)
class Viewer:
    """A signed-in contact whose access was checked on this request."""

    company: Company
    contact: Contact
    session_id: str


def new_flow(randomness: Randomness) -> str:
    """A sign-in flow: the sign-in page starts one, and the browser's form cookie carries it to every later step."""
    return randomness.token(FLOW_TOKEN_BYTES)


def _require_flow(flow: str) -> None:
    if not flow:
        raise InvalidInput("a sign-in flow is required")


def request_sign_in_code(uow: UnitOfWork, *, clock: Clock, randomness: Randomness, templates: EmailTemplates,
                         secrets: SignInSecrets, policy: SignInPolicy, link_token: str, email: str,
                         ip: str, flow: str, language: str | None = None) -> str | None:
    """Issues a code for this flow when the email is a contact of this portal's company; answers alike when not.
    The code's mail is queued in the outbox in the same transaction: returns its outbox id (None for an email that
    is no contact's), for the caller to wake a dispatcher with; the page never waits for the relay.

    Raises PortalUnavailable, InvalidEmail (malformed address) and Throttled. The throttles count requests per
    address typed, not per contact found, so being throttled says nothing about whether the email exists. Neither
    a throttled nor a malformed request writes anything. Issuance is serialised per company and email (and per
    client address), so parallel requests cannot all pass a count taken before any of them was recorded.
    """
    _require_flow(flow)
    with uow:
        company = open_portal(uow, link_token)
        try:
            address_key = email_key(normalise_email(email))
        except InvalidEmail:
            raise InvalidEmail("Enter a valid email address, like name@example.com.") from None
        keys = secrets.throttle
        email_k = keys.for_email(company.id, address_key)
        ip_k = keys.for_ip(ip)
        # Always this order (email, then address), so two requests never wait for each other in a circle.
        uow.login_requests.lock(email_k, ip_k)
        now = clock.now()
        limits = [
            (keys.for_flow(flow), now - policy.per_flow_interval, 1, "per-flow"),
            (ip_k, now - _HOUR, policy.per_ip_per_hour, "per-address"),
            (keys.for_email_and_ip(company.id, address_key, ip), now - _HOUR, policy.per_email_and_ip_per_hour,
             "per-email-and-address"),
            (email_k, now - _HOUR, policy.per_email_per_hour, "per-email"),
        ]
        counts = uow.login_requests.count_each_since([(key, since) for key, since, _limit, _name in limits])
        for (_key, _since, limit, name), count in zip(limits, counts, strict=True):
            if count >= limit:
                raise Throttled(WAIT_MESSAGE, limit=name)
        uow.login_requests.record_each([key for key, *_rest in limits], now)
        contact = uow.contacts.find(company.id, address_key)
        if contact is None:
            records.audit(uow, randomness=randomness, clock=clock, action="code_requested_unknown_email",
                          company_id=company.id, ip=ip)
            uow.commit()
            return None
        flow_key = keys.flow_key(flow)
        # A new code ends this flow's earlier one only: another browser's code is none of this flow's business.
        for earlier in uow.codes.active_for_flow(contact.id, flow_key, lock=True):
            earlier.end()
            uow.codes.update(earlier)
        plain = randomness.digits(CODE_DIGITS)
        code = OneTimeCode.issue(id=new_id(randomness), contact_id=contact.id, company_id=company.id,
                                 flow_key=flow_key, code=plain, hasher=secrets.codes, now=now)
        uow.codes.add(code)
        records.audit(uow, randomness=randomness, clock=clock, action="code_issued", company_id=company.id,
                      contact_id=contact.id, ip=ip)
        business = uow.business.get()
        if business is None:
            raise PortalUnavailable("the portal is not set up: no business")
        # The code's mail in the contact's saved language, else the language of the page it was asked from.
        notice = SignInCodeNotice(business=business, company_name=company.name, contact_name=contact.name,
                                  code=plain, valid_minutes=int(CODE_LIFETIME.total_seconds() // 60),
                                  language=languages.for_reader(contact.language, business.default_language, language))
        queued = outbox.enqueue(uow, clock=clock, randomness=randomness,
                                email=templates.render(notice, to=contact.email), purpose=MailPurpose.SIGN_IN_CODE,
                                give_up_at=code.expires_at, company_id=company.id, contact_id=contact.id,
                                subject_ref=outbox.CODE_REF + code.id)
        uow.commit()
    return queued


def verify_code(uow: UnitOfWork, *, clock: Clock, randomness: Randomness, secrets: SignInSecrets,
                policy: SignInPolicy, link_token: str, email: str, code: str, ip: str,
                flow: str) -> tuple[str, PortalSession]:
    """A right, unexpired, unused code that this flow asked for opens a new session: returns (cookie, session).

    Raises PortalUnavailable, CodeRejected (the same message for every wrong case: a code of another flow is
    simply wrong here), Throttled (too many wrong codes from this client address), and DeliveryFailed when this
    flow's latest code never reached the mail relay.
    """
    _require_flow(flow)
    code = code.strip().replace(" ", "")
    with uow:
        company = open_portal(uow, link_token)
        wrong_k = secrets.throttle.for_wrong_codes(ip)
        uow.login_requests.lock(wrong_k)
        now = clock.now()
        if uow.login_requests.count_since(wrong_k, now - _HOUR) >= policy.wrong_codes_per_ip_per_hour:
            raise Throttled(WRONG_CODES_MESSAGE, limit="wrong-codes")
        try:
            contact = uow.contacts.find(company.id, email_key(normalise_email(email)))
        except InvalidEmail:
            contact = None
        flow_key = secrets.throttle.flow_key(flow)
        active: list[OneTimeCode] = []
        if contact is not None:
            active = [c for c in uow.codes.active_for_flow(contact.id, flow_key, lock=True) if c.is_usable(now)]
            latest = uow.codes.latest_for_flow(contact.id, flow_key)
            if latest is not None and (latest.status == CodeStatus.UNDELIVERED
                                       or (latest in active and outbox.code_mail_stuck(uow, latest.id))):
                # The relay has not taken the code's mail (yet): whatever was typed, it was not that code.
                raise DeliveryFailed(UNDELIVERED_MESSAGE)
        for candidate in active:
            accepted = candidate.try_code(code, secrets.codes, now)
            uow.codes.update(candidate)
            if accepted and contact is not None:
                cookie = randomness.token(SESSION_TOKEN_BYTES)
                session = PortalSession(id=session_key(cookie), contact_id=contact.id, company_id=company.id,
                                        link_token=company.link_token, email_key=contact.email_key,
                                        access_generation=company.access_generation,
                                        created_at=now, last_seen_at=now)
                uow.sessions.add(session)
                records.audit(uow, randomness=randomness, clock=clock, action="signed_in", company_id=company.id,
                              contact_id=contact.id, ip=ip)
                webhooks.emit(uow, clock=clock, randomness=randomness, event=EventType.CONTACT_SIGNED_IN,
                              data={"company": company.ref, "contact": contact.ref})
                uow.commit()
                return cookie, session
        uow.login_requests.record(wrong_k, now)
        records.audit(uow, randomness=randomness, clock=clock, action="code_failed", company_id=company.id,
                      contact_id=contact.id if contact is not None else None, ip=ip)
        uow.commit()
    raise CodeRejected(REJECTED_MESSAGE)


def current_viewer(uow: UnitOfWork, *, clock: Clock, policy: SignInPolicy, link_token: str,
                   cookie: str | None) -> Viewer:
    """Re-checks everything on every request: session live, link current, access enabled, contact unchanged.

    Raises PortalUnavailable (the link itself is dead) or NotSignedIn.
    """
    with uow:
        viewer = recheck_viewer(uow, clock=clock, policy=policy, link_token=link_token, cookie=cookie)
        uow.commit()
    return viewer


def recheck_viewer(uow: UnitOfWork, *, clock: Clock, policy: SignInPolicy, link_token: str,
                   cookie: str | None) -> Viewer:
    """current_viewer inside a unit of work the caller has open, so a page can read the rest of what it needs in
    the same transaction. It may record the session's last-seen time: the caller commits."""
    return viewer_from(uow, read_page_rows(uow, link_token, cookie), clock=clock, policy=policy, cookie=cookie)


def open_sign_in_page(uow: UnitOfWork, link_token: str) -> tuple[Company, Business | None]:
    """What the sign-in pages read: the company behind a working link, and the business for the branding, in one
    query where the unit of work offers it. Raises PortalUnavailable."""
    with uow:
        rows = read_page_rows(uow, link_token, None)
    if rows.company is None or not rows.company.portal_enabled:
        raise PortalUnavailable("this portal link is not active")
    return rows.company, rows.business


def read_page_rows(uow: UnitOfWork, link_token: str, cookie: str | None) -> PageRows:
    """PageRows in one query when the unit of work offers `signed_in` (SignedInReads), else through the
    repositories. Inside the caller's unit of work."""
    if not link_token:
        return PageRows(company=None)
    session_id = session_key(cookie) if cookie else ""
    reads: SignedInReads | None = getattr(uow, "signed_in", None)
    if reads is not None:
        return reads.load(link_token, session_id)
    company = uow.companies.get_by_link_token(link_token)
    if company is None:
        return PageRows(company=None)
    session = uow.sessions.get(session_id) if session_id else None
    return PageRows(company=company, session=session,
                    contact=uow.contacts.get(session.contact_id) if session is not None else None,
                    business=uow.business.get(),
                    providers=tuple(sorted(connection.provider for connection in uow.payment_providers.list())))


def viewer_from(uow: UnitOfWork, rows: PageRows, *, clock: Clock, policy: SignInPolicy,
                cookie: str | None) -> Viewer:
    """The checks of current_viewer over rows already read (checked_viewer). Raises PortalUnavailable or
    NotSignedIn. May record the session's last-seen time in `uow`: the caller commits."""
    viewer, touched = checked_viewer(rows, clock=clock, policy=policy, cookie=cookie)
    if touched is not None:
        uow.sessions.update(touched)
    return viewer


def checked_viewer(rows: PageRows, *, clock: Clock, policy: SignInPolicy,
                   cookie: str | None) -> tuple[Viewer, PortalSession | None]:
    """The checks of current_viewer over rows already read, writing nothing: the link is current and its access
    on, the session is live and was started under this link and access generation, its contact still belongs to
    the company with the same email. Raises PortalUnavailable or NotSignedIn. Returns the viewer, and the session
    with its last-seen time moved to now when that is due (the caller stores it), else None."""
    company = rows.company
    if company is None or not company.portal_enabled:
        raise PortalUnavailable("this portal link is not active")
    if not cookie:
        raise NotSignedIn("please sign in")
    now = clock.now()
    session = rows.session
    if (session is None or not session.is_live(now, policy.idle_timeout, policy.absolute_lifetime)
            or session.company_id != company.id or session.link_token != company.link_token
            or session.access_generation != company.access_generation):
        raise NotSignedIn("your session has ended; please sign in again")
    contact = rows.contact
    if (contact is None or contact.id != session.contact_id or contact.company_id != company.id
            or contact.email_key != session.email_key):
        raise NotSignedIn("your session has ended; please sign in again")
    viewer = Viewer(company=company, contact=contact, session_id=session.id)
    if now - session.last_seen_at >= _TOUCH_EVERY:
        session.last_seen_at = now
        return viewer, session
    return viewer, None


def sign_out(uow: UnitOfWork, *, clock: Clock, randomness: Randomness, cookie: str | None, ip: str) -> None:
    if not cookie:
        return
    with uow:
        session = uow.sessions.get(session_key(cookie))
        if session is None or session.ended_at is not None:
            return
        session.end(clock.now())
        uow.sessions.update(session)
        records.audit(uow, randomness=randomness, clock=clock, action="signed_out", company_id=session.company_id,
                      contact_id=session.contact_id, ip=ip)
        uow.commit()
