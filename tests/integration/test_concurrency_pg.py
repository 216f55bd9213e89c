"""Concurrency on PostgreSQL with real processes: two `portal serve` instances (gunicorn, 4 and 2 workers) share one
database, and threads hit both at once.

- 20 parallel POSTs of the same right code open exactly one session;
- the two instances enforce one set of throttles (per contact, per client address);
- parallel Pay Now clicks on both instances open one Stripe session and all go to its page, and parallel duplicate
  confirmations of that payment (webhooks, return pages) credit the invoice once and send one receipt.

(The ledger's own race, many confirmations of one payment in threads, is in test_payments_sqlalchemy.py.)
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import attrs
import pytest
import requests
import sqlalchemy as sa

from adapters.sqlalchemy import tables as t
from adapters.sqlalchemy.engine import create_engine_from_url
from adapters.sqlalchemy.migrate import upgrade
from entrypoints.bootstrap import build_services
from entrypoints.demo import demo_seed
from entrypoints.settings import Settings
from portal_core import companies, payment_providers
from portal_core.model.payment import PaymentStatus, Provider
from portal_core.seed import load_seed
from tests.support.fake_providers import FakeStripe, serve, stripe_event, stripe_signature
from tests.support.served_portal import served_portal
from tests.support.smtp import SmtpServer, code_in

from .conftest import postgres_base_url, postgres_schema

pytestmark = pytest.mark.postgres

SECRET = secrets.token_urlsafe(32)
STRIPE_KEY = "sk_test_concurrency_0123"
WEBHOOK_SECRET = "whsec_concurrency_secret"
IP_LIMIT = 6
PARALLEL = 20
PAYER = "bart@globex.example"  # a contact of its own: the other tests' code requests throttle theirs
T = TypeVar("T")


class _Serialised:
    """FakeStripe numbers its sessions by count: served by a threaded server it must take one call at a time."""

    def __init__(self, app: FakeStripe) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        with self.lock:
            return list(self.app(environ, start_response))


@attrs.frozen
class Deployment:
    servers: tuple[str, str]
    token: str
    engine: sa.Engine
    smtp: SmtpServer
    stripe: FakeStripe


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    tmp = tmp_path_factory.mktemp("concurrency")
    with postgres_schema(postgres_base_url()) as url, SmtpServer() as smtp:
        upgrade(url)
        fake = FakeStripe()
        with serve(_Serialised(fake)) as stripe_base:
            settings = Settings.from_env({}, database_url=url, secret_key=SECRET, file_dir=str(tmp / "files"),
                                         stripe_api_base=stripe_base)
            services = build_services(settings)
            try:
                load_seed(services.uow(), randomness=services.randomness, clock=services.clock,
                          storage=services.files, document=demo_seed(services.clock.now().date()))
                companies.add_contact(services.uow(), randomness=services.randomness, company_key="globex",
                                      name="Bart Simpson", email=PAYER)
                payment_providers.connect_provider(services.uow(), vault=services.credential_vault,
                                                   clock=services.clock, randomness=services.randomness,
                                                   provider=Provider.STRIPE,
                                                   credentials={"secret_key": STRIPE_KEY,
                                                                "webhook_secret": WEBHOOK_SECRET})
            finally:
                services.close()
            env = {"PORTAL_DATABASE_URL": url, "PORTAL_SECRET_KEY": SECRET, "PORTAL_EMAIL_URL": smtp.url,
                   "PORTAL_EMAIL_FROM": "portal@falcon.example", "PORTAL_FILE_DIR": str(tmp / "files"),
                   "PORTAL_STRIPE_API_BASE": stripe_base, "PORTAL_LOGIN_IP_LIMIT": str(IP_LIMIT),
                   # Each test speaks for its own client address, so the per-address throttle of one test does not
                   # spill into another.
                   "PORTAL_TRUSTED_PROXIES": "1"}
            engine = create_engine_from_url(url)
            with engine.connect() as connection:
                token = connection.execute(sa.select(t.companies.c.link_token)
                                           .where(t.companies.c.ref == "globex")).scalar_one()
            try:
                with served_portal(env, workers=4, log_path=tmp / "a.log") as a, \
                        served_portal(env, workers=2, log_path=tmp / "b.log") as b:
                    yield Deployment(servers=(a, b), token=token, engine=engine, smtp=smtp, stripe=fake)
            finally:
                engine.dispose()


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def _client(ip: str) -> requests.Session:
    session = requests.Session()
    session.headers["X-Forwarded-For"] = ip
    return session


def _ask_for_code(deployment: Deployment, server: str, client: requests.Session, email: str) -> requests.Response:
    base = f"{server}/p/{deployment.token}"
    page = client.get(f"{base}/login", timeout=10)
    return client.post(f"{base}/login", data={"email": email, "csrf_token": _csrf(page.text)},
                       allow_redirects=False, timeout=10)


def _sign_in(deployment: Deployment, client: requests.Session, email: str) -> None:
    server = deployment.servers[0]
    before = len(deployment.smtp.mailbox.to(email))
    assert _ask_for_code(deployment, server, client, email).status_code == 303
    code = code_in(deployment.smtp.mailbox.wait_for(email, count=before + 1)[-1])
    base = f"{server}/p/{deployment.token}"
    verify = client.get(f"{base}/verify", timeout=10)
    done = client.post(f"{base}/verify", data={"code": code, "csrf_token": _csrf(verify.text)},
                       allow_redirects=False, timeout=10)
    assert done.status_code == 303, done.text


def _together(jobs: list[Callable[[], T]]) -> list[T]:
    """Runs the jobs in threads released at the same instant."""
    barrier = threading.Barrier(len(jobs))

    def run(job: Callable[[], T]) -> T:
        barrier.wait(20)
        return job()

    with ThreadPoolExecutor(len(jobs)) as pool:
        return list(pool.map(run, jobs))


def _contact_id(engine: sa.Engine, email: str) -> str:
    with engine.connect() as connection:
        return str(connection.execute(sa.select(t.contacts.c.id).where(t.contacts.c.email_key == email))
                   .scalar_one())


def test_twenty_parallel_posts_of_the_same_right_code_open_exactly_one_session(deployment: Deployment) -> None:
    email = "homer@globex.example"
    client = _client("198.51.100.1")
    a, b = deployment.servers
    assert _ask_for_code(deployment, a, client, email).status_code == 303
    code = code_in(deployment.smtp.mailbox.wait_for(email)[-1])
    verify = client.get(f"{a}/p/{deployment.token}/verify", timeout=10)
    form = {"code": code, "csrf_token": _csrf(verify.text)}
    cookies = client.cookies.get_dict()

    def post(server: str) -> Callable[[], int]:
        return lambda: requests.post(f"{server}/p/{deployment.token}/verify", data=form, cookies=cookies,
                                     headers={"X-Forwarded-For": "198.51.100.1"}, allow_redirects=False,
                                     timeout=30).status_code

    statuses = _together([post(deployment.servers[i % 2]) for i in range(PARALLEL)])
    assert sorted(statuses) == [303] + [400] * (PARALLEL - 1), statuses
    contact = _contact_id(deployment.engine, email)
    with deployment.engine.connect() as connection:
        sessions = connection.execute(sa.select(sa.func.count()).select_from(t.portal_sessions)
                                      .where(t.portal_sessions.c.contact_id == contact)).scalar_one()
        signed_in = connection.execute(sa.select(sa.func.count()).select_from(t.audit_log).where(
            t.audit_log.c.contact_id == contact, t.audit_log.c.action == "signed_in")).scalar_one()
    assert (sessions, signed_in) == (1, 1)


def test_two_instances_enforce_one_set_of_throttles(deployment: Deployment) -> None:
    a, b = deployment.servers
    # Per flow (one browser): one code a minute, whichever instance is asked.
    peter = _client("198.51.100.2")
    assert _ask_for_code(deployment, a, peter, "marge@globex.example").status_code == 303
    again = _ask_for_code(deployment, b, peter, "marge@globex.example")
    assert again.status_code == 429 and "Too many code requests" in again.text
    # Per client address: IP_LIMIT requests an hour in all, alternating between the instances (a new browser,
    # so a new sign-in flow, for each: one flow asks for a new code once a minute at most).
    statuses = [_ask_for_code(deployment, deployment.servers[i % 2], _client("198.51.100.3"),
                              f"stranger{i}@nowhere.example").status_code for i in range(IP_LIMIT + 2)]
    assert statuses == [303] * IP_LIMIT + [429, 429]
    # Another address is not held back by that one.
    assert _ask_for_code(deployment, b, _client("198.51.100.4"), "someone@nowhere.example").status_code == 303


def test_parallel_pay_now_clicks_and_duplicate_confirmations_credit_the_invoice_once(deployment: Deployment) -> None:
    client = _client("198.51.100.5")
    _sign_in(deployment, client, PAYER)
    with deployment.engine.connect() as connection:
        invoice_id, total = connection.execute(sa.select(t.invoices.c.id, t.invoices.c.total_minor)
                                               .where(t.invoices.c.ref == "globex-i1")).one()
    base_paths = [f"{server}/p/{deployment.token}/invoices/{invoice_id}" for server in deployment.servers]
    page = client.get(base_paths[0], timeout=10)
    assert "Pay Now" in page.text
    csrf, cookies = _csrf(page.text), client.cookies.get_dict()
    clicks = 10
    created_before = len(deployment.stripe.creates())

    def click(i: int) -> Callable[[], requests.Response]:
        return lambda: requests.post(f"{base_paths[i % 2]}/pay", data={"csrf_token": csrf}, cookies=cookies,
                                     headers={"X-Forwarded-For": "198.51.100.5"}, allow_redirects=False, timeout=30)

    clicked_at = time.time()
    answers = _together([click(i) for i in range(clicks)])
    assert all(r.status_code == 303 for r in answers), [r.status_code for r in answers]
    # The clicks wait for the first one under the invoice's lock, then all find its page: one Stripe session.
    [created] = deployment.stripe.creates()[created_before:]
    [sid] = [s for s, session in deployment.stripe.sessions.items() if session["metadata"]["invoice_id"] == invoice_id]
    assert {r.headers["Location"] for r in answers} == {deployment.stripe.sessions[sid]["url"]}
    assert abs(int(created.form["expires_at"]) - (clicked_at + 3600)) < 60  # Stripe closes it in an hour
    with deployment.engine.connect() as connection:
        attempts = connection.execute(sa.select(t.payments.c.status, t.payments.c.provider_ref)
                                      .where(t.payments.c.invoice_id == invoice_id)).all()
    assert [(PaymentStatus(status), ref) for status, ref in attempts] == [(PaymentStatus.PENDING, sid)]

    # The client pays on that page; it is confirmed by the same webhook delivered twice to each instance (Stripe
    # retries), by a second event about the same session, and by return pages, all at the same time.
    session = deployment.stripe.complete(sid)
    completed = stripe_event("evt_paid_completed", "checkout.session.completed", session)
    succeeded = stripe_event("evt_paid_async", "checkout.session.async_payment_succeeded", session)
    jobs: list[Callable[[], int]] = []
    for server in deployment.servers:
        for payload in (completed, completed, succeeded):
            jobs.append(lambda server=server, payload=payload: requests.post(
                f"{server}/webhooks/stripe", data=payload, timeout=30,
                headers={"Stripe-Signature": stripe_signature(payload, WEBHOOK_SECRET),
                         "Content-Type": "application/json"}).status_code)
    for i in range(4):
        jobs.append(lambda i=i: requests.get(f"{base_paths[i % 2]}/paid", cookies=cookies, timeout=30,
                                             headers={"X-Forwarded-For": "198.51.100.5"}).status_code)
    assert set(_together(jobs)) == {200}

    with deployment.engine.connect() as connection:
        status, paid = connection.execute(sa.select(t.invoices.c.status, t.invoices.c.amount_paid_minor)
                                          .where(t.invoices.c.id == invoice_id)).one()
        outcomes = [PaymentStatus(s) for s in connection.execute(
            sa.select(t.payments.c.status).where(t.payments.c.invoice_id == invoice_id)).scalars()]
    assert (status, paid) == ("paid", total)
    assert outcomes == [PaymentStatus.SUCCEEDED]
    assert outcomes.count(PaymentStatus.OVERPAID) == 0  # one page, one payment: nothing to hold for review
    # Exactly one receipt went out.
    receipts = [m for m in deployment.smtp.mailbox.to(PAYER) if "Payment received" in m["Subject"]]
    assert len(receipts) == 1
