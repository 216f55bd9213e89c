"""Sign-in attacked as a stranger would, on PostgreSQL through `portal serve --workers 2`, with requests released in
parallel from several client addresses (X-Forwarded-For behind one trusted proxy) and several browsers (cookie jars).

- a code works only in the browser flow that asked for it;
- an attacker at one address who keeps requesting the client's codes and guessing cannot stop the client, at
  another address, from receiving a code and signing in;
- the limits hold in parallel: 40 requests for one email from 40 addresses mail at most 10 codes, 20 from one
  address at most 3, 10 in one flow at most 1; 60 wrong codes in parallel from one address count to 50, then 429.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator

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
from portal_core import companies
from portal_core.seed import load_seed
from tests.support.served_portal import served_portal
from tests.support.smtp import SmtpServer, code_in

from .conftest import postgres_base_url, postgres_schema
from .test_concurrency_pg import _csrf, _together

pytestmark = pytest.mark.postgres

SECRET = secrets.token_urlsafe(32)
# One contact per test, so that one test's limits never spill into another's.
VICTIM, BINDING, FORTY, TWENTY, ONE_FLOW = (f"{name}@globex.example" for name in
                                            ("lisa", "maggie", "patty", "selma", "abe"))


@attrs.frozen
class Site:
    base: str
    token: str
    smtp: SmtpServer
    engine: sa.Engine
    log: object

    def browser(self, ip: str) -> requests.Session:
        """A new browser at a client address: its own cookie jar, so its own sign-in flow."""
        session = requests.Session()
        session.headers["X-Forwarded-For"] = ip
        return session

    def open_login(self, browser: requests.Session) -> str:
        page = browser.get(f"{self.base}/p/{self.token}/login", timeout=10)
        assert page.status_code == 200
        return _csrf(page.text)

    def ask(self, browser: requests.Session, email: str, csrf: str | None = None) -> requests.Response:
        csrf = csrf or self.open_login(browser)
        return browser.post(f"{self.base}/p/{self.token}/login", data={"email": email, "csrf_token": csrf},
                            allow_redirects=False, timeout=30)

    def verify(self, browser: requests.Session, code: str) -> requests.Response:
        page = browser.get(f"{self.base}/p/{self.token}/verify", timeout=10)
        return browser.post(f"{self.base}/p/{self.token}/verify", data={"code": code, "csrf_token": _csrf(page.text)},
                            allow_redirects=False, timeout=30)

    def mails_to(self, email: str, settle: float = 3.0) -> int:
        """How many messages reached the relay for email, once the mail threads have had time to send them."""
        time.sleep(settle)
        return len(self.smtp.mailbox.to(email))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("attacks")
    with postgres_schema(postgres_base_url()) as url, SmtpServer() as smtp:
        upgrade(url)
        settings = Settings.from_env({}, database_url=url, secret_key=SECRET, file_dir=str(tmp / "files"))
        services = build_services(settings)
        try:
            load_seed(services.uow(), randomness=services.randomness, clock=services.clock, storage=services.files,
                      document=demo_seed(services.clock.now().date()))
            for email in (VICTIM, BINDING, FORTY, TWENTY, ONE_FLOW):
                companies.add_contact(services.uow(), randomness=services.randomness, company_key="globex",
                                      name=email.split("@")[0].title(), email=email)
            token = companies.get_company(services.uow(), "globex").link_token
        finally:
            services.close()
        env = {"PORTAL_DATABASE_URL": url, "PORTAL_SECRET_KEY": SECRET, "PORTAL_EMAIL_URL": smtp.url,
               "PORTAL_EMAIL_FROM": "portal@falcon.example", "PORTAL_FILE_DIR": str(tmp / "files"),
               "PORTAL_TRUSTED_PROXIES": "1"}
        engine = create_engine_from_url(url)
        try:
            with served_portal(env, workers=2, log_path=tmp / "serve.log") as base:
                yield Site(base=base, token=token, smtp=smtp, engine=engine, log=tmp / "serve.log")
        finally:
            engine.dispose()


def test_a_code_is_accepted_only_in_the_browser_that_asked_for_it(site: Site) -> None:
    client, other = site.browser("198.51.100.10"), site.browser("198.51.100.11")
    assert site.ask(client, BINDING).status_code == 303
    code = code_in(site.smtp.mailbox.wait_for(BINDING)[-1])
    # Another browser (its own flow, here at another address) that names the same email and types the right code:
    # a wrong code there, and nothing else is revealed.
    assert site.ask(other, BINDING).status_code == 303
    stolen = site.verify(other, code)
    assert stolen.status_code == 400 and "not right" in stolen.text
    assert "portal_session" not in stolen.cookies
    # The client's own browser still signs in with it.
    done = site.verify(client, code)
    assert done.status_code == 303 and done.headers["Location"].endswith(f"/p/{site.token}/")


def test_an_attacker_cannot_lock_the_client_out(site: Site) -> None:
    attacker_ip = "203.0.113.66"

    def attack(n: int) -> Callable[[], tuple[int, list[int]]]:
        def run() -> tuple[int, list[int]]:
            browser = site.browser(attacker_ip)
            asked = site.ask(browser, VICTIM).status_code
            if asked != 303:  # throttled: the browser guesses on under an address of its own making
                assert site.ask(browser, f"stranger{n}@nowhere.example", site.open_login(browser)).status_code == 303
            guesses = [site.verify(browser, f"{(n * 7 + guess) % 1_000_000:06d}").status_code for guess in range(5)]
            return asked, guesses

        return run

    # Twelve attacking browsers at once: code requests and sixty wrong guesses against the client's email.
    runs = _together([attack(n) for n in range(12)])
    asked = [a for a, _guesses in runs]
    guesses = [g for _asked, run in runs for g in run]
    assert asked.count(303) <= 3 and set(asked) <= {303, 429}  # 3 code requests an hour for that email there
    assert set(guesses) <= {400, 429} and 429 in guesses  # past 50 wrong codes the address waits out the hour
    mailed_by_attacker = site.mails_to(VICTIM)
    assert mailed_by_attacker <= 3

    # The client, at home, asks for a code and signs in: none of that touched the client's flow.
    client = site.browser("198.51.100.20")
    assert site.ask(client, VICTIM).status_code == 303
    code = code_in(site.smtp.mailbox.wait_for(VICTIM, count=mailed_by_attacker + 1)[-1])
    done = site.verify(client, code)
    assert done.status_code == 303, done.text
    assert client.get(f"{site.base}/p/{site.token}/", timeout=10).status_code == 200


def test_forty_parallel_requests_from_forty_addresses_mail_at_most_ten_codes(site: Site) -> None:
    browsers = [site.browser(f"192.0.2.{n + 1}") for n in range(40)]
    tokens = [site.open_login(b) for b in browsers]
    answers = _together([lambda b=b, c=c: site.ask(b, FORTY, c).status_code
                         for b, c in zip(browsers, tokens, strict=True)])
    assert sorted(set(answers)) == [303, 429] and answers.count(303) == 10
    assert site.mails_to(FORTY) == 10
    with site.engine.connect() as connection:
        contact = connection.execute(sa.select(t.contacts.c.id).where(t.contacts.c.email_key == FORTY)).scalar_one()
        issued = connection.execute(sa.select(sa.func.count()).select_from(t.one_time_codes)
                                    .where(t.one_time_codes.c.contact_id == contact)).scalar_one()
    assert issued == 10


def test_twenty_parallel_requests_from_one_address_mail_at_most_three_codes(site: Site) -> None:
    browsers = [site.browser("198.51.100.30") for _ in range(20)]
    tokens = [site.open_login(b) for b in browsers]
    answers = _together([lambda b=b, c=c: site.ask(b, TWENTY, c).status_code
                         for b, c in zip(browsers, tokens, strict=True)])
    assert answers.count(303) == 3 and answers.count(429) == 17
    assert site.mails_to(TWENTY) == 3


def test_parallel_requests_in_one_flow_issue_one_code(site: Site) -> None:
    browser = site.browser("198.51.100.40")
    csrf = site.open_login(browser)
    cookies = browser.cookies.get_dict()

    def post() -> int:
        return requests.post(f"{site.base}/p/{site.token}/login", data={"email": ONE_FLOW, "csrf_token": csrf},
                             cookies=cookies, headers={"X-Forwarded-For": "198.51.100.40"}, allow_redirects=False,
                             timeout=30).status_code

    answers = _together([post for _ in range(10)])
    assert answers.count(303) == 1 and answers.count(429) == 9
    assert site.mails_to(ONE_FLOW) == 1


def test_refusals_are_logged_without_secrets(site: Site) -> None:
    browser = site.browser("198.51.100.50")
    assert browser.get(f"{site.base}/p/not-a-portal-token-at-all-000/login", timeout=10).status_code == 404
    log = site.log.read_text()  # type: ignore[attr-defined]
    lines = [line for line in log.splitlines() if line.startswith("WARNING portal.access: refused")]
    assert any("unknown link" in line for line in lines), log[-2000:]
    assert any("throttled" in line for line in lines), log[-2000:]
    for secret in (site.token, "not-a-portal-token-at-all-000", "globex.example", "198.51.100.", "203.0.113."):
        assert secret not in log
    mailed = {code_in(message) for _rcpts, message in site.smtp.mailbox.messages}
    assert mailed and not any(code in log for code in mailed)
