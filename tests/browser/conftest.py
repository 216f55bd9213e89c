"""The browser suite's world: a real SMTP server on loopback, a seeded SQLite database, `portal serve` as a real
server process, and Debian's Chromium driven by Playwright. The suite skips, saying why, when Chromium is absent."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from entrypoints.demo import demo_seed
from tests.support.fake_providers import FakeStripe, serve
from tests.support.smtp import SmtpServer, code_in

# Found on PATH, as .ci/run looks for it (`command -v chromium`).
CHROMIUM = shutil.which("chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
PORTAL = Path(sys.executable).with_name("portal")  # the console script installed next to this interpreter
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
HOMER = "homer@globex.example"
MARGE = "marge@globex.example"


@attrs.define
class RunningPortal:
    base_url: str
    link: str  # the globex portal link, without a trailing slash
    smtp: SmtpServer
    seed: Any  # the seed document the database was loaded from (dates resolved)
    log_path: Path
    stripe: FakeStripe  # the local fake Stripe the portal's stripe SDK talks to (connected only by tests that pay)
    env: dict[str, str]  # the portal's environment, for `portal ...` commands a test runs

    def cli(self, *args: str) -> str:
        return _portal_cli(self.env, *args)

    def server_log(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:] if self.log_path.exists() else ""

    def seed_file_bytes(self, name: str) -> bytes:
        for company in self.seed["companies"]:
            for file in company.get("files", []):
                if file["name"] == name:
                    return base64.b64decode(file["content_base64"])
        raise AssertionError(f"no file {name!r} in the seed")


@pytest.fixture(scope="session")
def chromium_executable() -> Path:
    if CHROMIUM is None:
        pytest.skip("chromium is not on PATH: install Debian's Chromium (apt-get install -y chromium) to run the "
                    "browser suite")
    return Path(CHROMIUM)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _portal_cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([str(PORTAL), *args], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"portal {' '.join(args)} exited {done.returncode}: {done.stderr[-2000:]}"
    return done.stdout


def _wait_until_answering(url: str, process: subprocess.Popen[bytes], log_path: Path, timeout: float = 30) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if process.poll() is not None:
            raise AssertionError(f"portal serve exited {process.returncode}:\n{log_path.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    log = log_path.read_text(errors="replace")
    raise AssertionError(f"portal serve did not answer {url} within {timeout}s:\n{log}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


@pytest.fixture(scope="session")
def portal(chromium_executable: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPortal]:
    """`portal db upgrade`, `portal seed` (the demo seed), `portal serve` on a free port; mail to a real SMTP server."""
    tmp = tmp_path_factory.mktemp("portal")
    seed = demo_seed(dt.date.today())
    seed_path = tmp / "demo-seed.json"
    seed_path.write_text(json.dumps(seed), encoding="utf-8")
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    stripe = FakeStripe()
    with SmtpServer() as smtp, serve(stripe) as stripe_base:
        env = dict(os.environ)
        env.update({
            "PORTAL_DATABASE_URL": f"sqlite:///{tmp / 'portal.db'}",
            "PORTAL_SECRET_KEY": secrets.token_urlsafe(32),
            "PORTAL_BASE_URL": base_url,
            "PORTAL_EMAIL_URL": smtp.url,
            "PORTAL_EMAIL_FROM": "portal@falcon.example",
            "PORTAL_FILE_DIR": str(tmp / "files"),
            "PYTHONUNBUFFERED": "1",
            "PORTAL_STRIPE_API_BASE": stripe_base,
        })
        _portal_cli(env, "db", "upgrade")
        _portal_cli(env, "seed", str(seed_path))
        found = re.search(r"https?://\S+/p/[^\s/]+", _portal_cli(env, "link", "globex"))
        assert found, "portal link globex printed no link"
        log_path = tmp / "server.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [str(PORTAL), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            _wait_until_answering(base_url + "/healthz", process, log_path)
            yield RunningPortal(base_url=base_url, link=found.group(0).rstrip("/"), smtp=smtp, seed=seed,
                                log_path=log_path, stripe=stripe, env=env)
        finally:
            _stop(process)


@pytest.fixture(scope="session")
def browser(chromium_executable: Path) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(chromium_executable), args=CHROMIUM_ARGS,
                                              headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


class ConsoleErrors:
    """Errors a page reports: console messages of type error (CSP violations among them) and uncaught exceptions."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def watch(self, page: Any) -> None:
        page.on("console", lambda msg: self.messages.append(f"{page.url}: {msg.text}") if msg.type == "error"
                else None)
        page.on("pageerror", lambda exc: self.messages.append(f"{page.url}: uncaught {exc}"))
        # The console names no URL for a failed load; this says which one it was.
        page.on("response", lambda r: self.messages.append(f"{page.url}: {r.request.resource_type} {r.url} answered "
                                                           f"{r.status}") if r.status >= 400 else None)

    def assert_none(self) -> None:
        assert self.messages == [], "the pages reported errors in the console:\n" + "\n".join(self.messages)


def sign_in(page: Any, portal: RunningPortal, email: str, *, shots: bool = False) -> None:
    """The real flow in the browser: the email form, the code from the SMTP server's mail, the code form."""
    from playwright.sync_api import expect

    before = len(portal.smtp.mailbox.to(email))
    response = page.goto(portal.link + "/login")
    assert response is not None and response.status == 200
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    if shots:
        screenshot(page, "login")
    page.get_by_label("Email").fill(email)
    page.get_by_role("button", name="Email me a code").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Enter your code")
    assert page.url == portal.link + "/verify"
    if shots:
        screenshot(page, "verify")
    code = code_in(portal.smtp.mailbox.wait_for(email, count=before + 1)[-1])
    page.locator("input[name=code]").fill(code)
    page.get_by_role("button", name="Verify code").click()
    page.wait_for_url(portal.link + "/")


def screenshot(page: Any, name: str) -> list[Path]:
    """The page as it is now, at phone and at desktop width, full length, into artifacts/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    paths = []
    for label, size in (("phone", PHONE), ("desktop", DESKTOP)):
        page.set_viewport_size(size)
        path = SCREENSHOTS / f"{name}-{label}.png"
        page.screenshot(path=str(path), full_page=True)
        paths.append(path)
    page.set_viewport_size(DESKTOP)
    return paths


@pytest.fixture(scope="session")
def homer_state(browser: Any, portal: RunningPortal) -> dict[str, Any]:
    """Homer signed in once through the real flow (the throttle allows one code a minute per contact)."""
    context = browser.new_context(viewport=DESKTOP)
    try:
        page = context.new_page()
        errors = ConsoleErrors()
        errors.watch(page)
        sign_in(page, portal, HOMER, shots=True)
        errors.assert_none()
        return context.storage_state()  # type: ignore[no-any-return]
    finally:
        context.close()


@pytest.fixture
def console_errors() -> ConsoleErrors:
    return ConsoleErrors()


@pytest.fixture
def homer_page(browser: Any, homer_state: dict[str, Any], console_errors: ConsoleErrors) -> Iterator[Any]:
    context = browser.new_context(viewport=DESKTOP, storage_state=homer_state, accept_downloads=True)
    try:
        page = context.new_page()
        console_errors.watch(page)
        yield page
    finally:
        context.close()


@pytest.fixture
def fresh_page(browser: Any, console_errors: ConsoleErrors) -> Iterator[Any]:
    context = browser.new_context(viewport=DESKTOP)
    try:
        page = context.new_page()
        console_errors.watch(page)
        yield page
    finally:
        context.close()
