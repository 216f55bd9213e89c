"""Accessibility, checked by axe-core (Deque's engine, from the npm registry) in Debian's Chromium: every page, in
English and Arabic, at phone and desktop width, signed out and signed in, with no WCAG 2.1 A or AA violation; Arabic
pages do not scroll sideways on a phone; and the whole sign-in flow works with the keyboard alone."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DESKTOP, PHONE, RunningPortal
from tests.support.smtp import code_in

pytestmark = pytest.mark.browser

AXE = Path(os.environ.get("PORTAL_AXE_JS", Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" /
                          "axe.min.js"))
WCAG_21_A_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
SIGNED_OUT = ["/login", "/no-such-page"]
SIGNED_IN = ["/", "/invoices", "/invoices/{invoice}", "/quotes", "/quotes/{quote}", "/jobs", "/jobs/{job}",
             "/projects", "/tasks", "/files", "/statement", "/requests", "/requests/new", "/products", "/about",
             "/contact", "/no-such-page"]


@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE.exists():
        pytest.skip(f"{AXE} is absent: `npm install --no-save axe-core@4` in the project (CI does) to run the "
                    "accessibility checks")
    return AXE.read_text()


def _violations(page: Any) -> list[str]:
    result = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_21_A_AA)
    return [f"{v['id']} ({v['impact']}): {v['help']} at {json.dumps([n['target'] for n in v['nodes']][:3])}"
            for v in result["violations"]]


def _ids(page: Any, portal: RunningPortal) -> dict[str, str]:
    found: dict[str, str] = {}
    for kind, section in (("invoice", "invoices"), ("quote", "quotes"), ("job", "jobs")):
        page.goto(f"{portal.link}/{section}")
        href = page.locator(f"main a[href*='/{section}/']").first.get_attribute("href")
        found[kind] = href.rsplit("/", 1)[1]
    return found


@pytest.fixture
def context_for(browser: Any, homer_state: dict[str, Any]) -> Iterator[Any]:
    contexts: list[Any] = []

    def make(language: str, *, signed_in: bool) -> Any:
        context = browser.new_context(viewport=DESKTOP, bypass_csp=True,  # to inject axe; the portal's CSP is tested
                                      extra_http_headers={"Accept-Language": language},  # elsewhere
                                      storage_state=homer_state if signed_in else None)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.mark.parametrize("language", ["en", "ar"])
def test_every_page_passes_axe_in_both_languages_at_both_widths(context_for: Any, portal: RunningPortal,
                                                                 axe_source: str, language: str) -> None:
    problems: list[str] = []
    for signed_in, paths in ((False, SIGNED_OUT), (True, SIGNED_IN)):
        page = context_for(language, signed_in=signed_in)
        ids = _ids(page, portal) if signed_in else {}
        for path in paths:
            url = portal.link + path.format(**ids)
            page.set_viewport_size(PHONE)
            page.goto(url)
            assert page.locator("html").get_attribute("lang") == language, url
            page.add_script_tag(content=axe_source)  # once per page; each width is laid out and checked in turn
            for size in (PHONE, DESKTOP):
                page.set_viewport_size(size)
                problems += [f"{language} {size['width']}px {path}: {v}" for v in _violations(page)]
                if size == PHONE:
                    overflow = page.evaluate(
                        "document.documentElement.scrollWidth - document.documentElement.clientWidth")
                    if overflow > 0:
                        problems.append(f"{language} {path}: {overflow}px wider than a {PHONE['width']}px phone")
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("language", ["en", "ar"])
def test_the_sign_in_flow_works_with_the_keyboard_alone(context_for: Any, portal: RunningPortal,
                                                        language: str) -> None:
    page = context_for(language, signed_in=False)
    # One contact per language: a contact may ask for three codes an hour from one address (docs/security.md).
    email = "marge@globex.example" if language == "ar" else "homer@globex.example"
    before = len(portal.smtp.mailbox.to(email))
    page.goto(portal.link + "/login")
    _tab_to(page, "input[name=email]")
    page.keyboard.type(email)
    page.keyboard.press("Enter")
    page.wait_for_url(portal.link + "/verify")
    code = code_in(portal.smtp.mailbox.wait_for(email, count=before + 1)[-1])
    _tab_to(page, "input[name=code]")
    page.keyboard.type(code)
    page.keyboard.press("Enter")
    page.wait_for_url(portal.link + "/")
    expect(page.locator("html")).to_have_attribute("dir", "rtl" if language == "ar" else "ltr")
    _tab_to(page, "nav a[href$='/invoices']")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(re.escape(portal.link) + r"/invoices$"))


def _tab_to(page: Any, selector: str, limit: int = 40) -> None:
    """Presses Tab until the element has the focus, as a keyboard user would."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement && document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"{selector} cannot be reached with Tab")

