"""Two hosts, as a business that outgrows one machine runs them: two `portal serve` instances with instance folders
of their own (no shared disk) against one PostgreSQL, one S3 API server (moto's server mode on loopback) and one
mail relay (aiosmtpd on loopback, stopped and started for the fault).

- a file attached through one host's CLI downloads byte for byte from the other;
- a code requested on one host verifies on the other;
- 50 notices queued while both run arrive exactly once each;
- the relay is down while a client submits a request, the serving host is killed with SIGKILL, then the relay and
  the host come back: the business receives that request's notice exactly once.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
from tests.support.served_portal import served_portal_process
from tests.support.smtp import SmtpServer, code_in

from .conftest import postgres_base_url, postgres_schema

pytestmark = pytest.mark.postgres

moto_server = pytest.importorskip("moto.server")
boto3 = pytest.importorskip("boto3")

SECRET = secrets.token_urlsafe(32)
BUCKET = "portal-files"
BUSINESS = "office@falcon.example"
CLIENTS = [f"client{n}@globex.example" for n in range(5)]
PORTAL = str(Path(sys.executable).parent / "portal")


@attrs.define
class Hosts:
    env: dict[str, str]
    tmp: Path
    token: str
    smtp: SmtpServer
    engine: sa.Engine
    servers: dict[str, tuple[str, Any]] = attrs.Factory(dict)  # name -> (base url, process)

    def host_env(self, name: str) -> dict[str, str]:
        folder = self.tmp / name
        return {**self.env, "PORTAL_INSTANCE_DIR": str(folder), "PORTAL_FILE_DIR": str(folder / "files")}

    def base(self, name: str) -> str:
        return self.servers[name][0]

    def cli(self, name: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([PORTAL, *args], env={**os.environ, **self.host_env(name)}, capture_output=True,
                              text=True, timeout=60)


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page[:500]
    return found.group(1)


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hosts]:
    tmp = tmp_path_factory.mktemp("two-hosts")
    s3 = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    s3.start()
    try:
        host, port = s3.get_host_and_port()
        aws = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
               "AWS_ENDPOINT_URL_S3": f"http://{host}:{port}"}
        boto3.client("s3", endpoint_url=aws["AWS_ENDPOINT_URL_S3"], aws_access_key_id="testing",
                     aws_secret_access_key="testing", region_name="us-east-1").create_bucket(Bucket=BUCKET)
        with postgres_schema(postgres_base_url()) as url, SmtpServer() as smtp:
            upgrade(url)
            services = build_services(Settings.from_env({}, database_url=url, secret_key=SECRET,
                                                        file_dir=str(tmp / "seed-files")))
            try:
                load_seed(services.uow(), randomness=services.randomness, clock=services.clock,
                          storage=services.files, document=demo_seed(services.clock.now().date()))
                for email in CLIENTS:
                    companies.add_contact(services.uow(), randomness=services.randomness, company_key="globex",
                                          name=email.split("@")[0], email=email)
                token = companies.get_company(services.uow(), "globex").link_token
            finally:
                services.close()
            env = {"PORTAL_DATABASE_URL": url, "PORTAL_SECRET_KEY": SECRET, "PORTAL_EMAIL_URL": smtp.url,
                   "PORTAL_EMAIL_FROM": "portal@falcon.example", "PORTAL_FILE_STORAGE": f"s3://{BUCKET}/portal",
                   "PORTAL_TRUSTED_PROXIES": "1", **aws}
            engine = create_engine_from_url(url)
            found = Hosts(env=env, tmp=tmp, token=token, smtp=smtp, engine=engine)
            try:
                with served_portal_process(found.host_env("a"), workers=2, log_path=tmp / "a.log") as a, \
                        served_portal_process(found.host_env("b"), workers=2, log_path=tmp / "b.log") as b:
                    found.servers.update(a=a, b=b)
                    yield found
            finally:
                engine.dispose()
    finally:
        s3.stop()


def _browser(ip: str) -> requests.Session:
    session = requests.Session()
    session.headers["X-Forwarded-For"] = ip
    return session


def _sign_in(hosts: Hosts, browser: requests.Session, email: str, *, ask_on: str, verify_on: str,
             within: float = 5) -> None:
    before = len(hosts.smtp.mailbox.to(email))
    page = browser.get(f"{hosts.base(ask_on)}/p/{hosts.token}/login", timeout=10)
    sent = browser.post(f"{hosts.base(ask_on)}/p/{hosts.token}/login", timeout=10, allow_redirects=False,
                        data={"email": email, "csrf_token": _csrf(page.text)})
    assert sent.status_code == 303
    code = code_in(hosts.smtp.mailbox.wait_for(email, count=before + 1, timeout=within)[-1])
    page = browser.get(f"{hosts.base(verify_on)}/p/{hosts.token}/verify", timeout=10)
    done = browser.post(f"{hosts.base(verify_on)}/p/{hosts.token}/verify", timeout=10, allow_redirects=False,
                        data={"code": code, "csrf_token": _csrf(page.text)})
    assert done.status_code == 303, done.text


def test_a_file_attached_on_one_host_downloads_from_the_other(hosts: Hosts, tmp_path: Path) -> None:
    content = os.urandom(3 * 1024 * 1024 + 17)
    source = tmp_path / "site-report.pdf"
    source.write_bytes(content)
    attached = hosts.cli("a", "file", "attach", "--job", "globex-j1", str(source))
    assert attached.returncode == 0, attached.stderr
    file_id = attached.stdout.strip()
    local = hosts.tmp / "a" / "files"
    assert not local.exists() or not any(local.rglob("*"))  # the contents went to the bucket, not host a's disk
    browser = _browser("198.51.100.61")
    _sign_in(hosts, browser, CLIENTS[0], ask_on="a", verify_on="b")
    got = browser.get(f"{hosts.base('b')}/p/{hosts.token}/files/{file_id}/download", timeout=30)
    assert got.status_code == 200
    assert hashlib.sha256(got.content).hexdigest() == hashlib.sha256(content).hexdigest()


def test_a_code_requested_on_one_host_verifies_on_the_other(hosts: Hosts) -> None:
    browser = _browser("198.51.100.62")
    _sign_in(hosts, browser, CLIENTS[1], ask_on="b", verify_on="a", within=2)  # the code reaches the relay in 2 s
    assert browser.get(f"{hosts.base('b')}/p/{hosts.token}/", timeout=10).status_code == 200


def _notices(hosts: Hosts) -> list[Any]:
    return [m for m in hosts.smtp.mailbox.to(BUSINESS) if "request" in str(m["Subject"]).lower()]


def _submit(hosts: Hosts, browser: requests.Session, host: str, title: str) -> None:
    base = f"{hosts.base(host)}/p/{hosts.token}"
    page = browser.get(f"{base}/requests/new", timeout=10)
    token = re.search(r'name="form_token" value="([^"]+)"', page.text)
    assert token, page.text[:500]
    done = browser.post(f"{base}/requests/new", timeout=10, allow_redirects=False,
                        data={"title": title, "details": "From the two-host test.", "csrf_token": _csrf(page.text),
                              "form_token": token.group(1)})
    assert done.status_code == 303, done.text


def test_fifty_notices_sent_while_both_hosts_run_arrive_exactly_once(hosts: Hosts) -> None:
    before = len(_notices(hosts))
    browsers = []
    for n, email in enumerate(CLIENTS):
        browser = _browser(f"198.51.100.{70 + n}")
        _sign_in(hosts, browser, email, ask_on="a", verify_on="a")
        browsers.append(browser)
    titles = [f"Two-host notice {n:02d}" for n in range(50)]
    for n, title in enumerate(titles):  # 10 per client (their hourly limit), alternating hosts
        _submit(hosts, browsers[n % 5], "ab"[n % 2], title)
    deadline = time.monotonic() + 30
    while len(_notices(hosts)) < before + 50 and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(3)  # a duplicate would show up by now
    notices = _notices(hosts)[before:]
    subjects = sorted(str(m["Subject"]) for m in notices)
    assert len(notices) == 50, subjects
    assert len({m["Message-ID"] for m in notices}) == 50
    for title in titles:
        assert sum(title in str(m.get_body(preferencelist=("plain",)).get_content()) for m in notices) == 1, title


def test_a_notice_queued_while_the_relay_is_down_survives_sigkill_and_arrives_once(hosts: Hosts) -> None:
    browser = _browser("198.51.100.90")
    email = "marge@globex.example"
    _sign_in(hosts, browser, email, ask_on="a", verify_on="a")
    before = len(_notices(hosts))
    hosts.smtp.stop()
    try:
        _submit(hosts, browser, "a", "Relay down, host killed")
        time.sleep(0.5)  # the serving host's dispatcher has tried and failed by now
        base_a, process = hosts.servers["a"]
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
        with hosts.engine.connect() as connection:
            pending = connection.execute(sa.select(sa.func.count()).select_from(t.outbox).where(
                t.outbox.c.status == "pending", t.outbox.c.purpose == "new_request")).scalar_one()
        assert pending == 1
    finally:
        hosts.smtp.start()
    port = int(base_a.rsplit(":", 1)[1])
    with served_portal_process(hosts.host_env("a"), workers=2, log_path=hosts.tmp / "a.log", port=port) as again:
        hosts.servers["a"] = again
        deadline = time.monotonic() + 60  # the retry comes 10 s after the failed try, then 30 s after that
        while len(_notices(hosts)) < before + 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(3)
        arrived = [m for m in _notices(hosts)[before:] if "Relay down, host killed" in str(
            m.get_body(preferencelist=("plain",)).get_content())]
        assert len(arrived) == 1
        out = hosts.cli("a", "mail", "status")
        assert out.returncode == 0 and "pending 0" in out.stdout.splitlines()
