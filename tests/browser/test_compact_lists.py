"""Lists that read at a glance: on a phone (and in the home page's half-width cards on a desktop) each record is two
lines, its number and amount, then its due date and status, in both directions; the navigation wraps instead of
running off the screen. A company of its own with ten pending invoices, so the demo company's pages stay as the
other tests expect them."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import attrs
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DESKTOP, PHONE, RunningPortal, screenshot, sign_in

pytestmark = pytest.mark.browser

EMAIL = "ops@many-invoices.example"
INVOICES = 10


@pytest.fixture(scope="module")
def many_invoices_link(portal: RunningPortal, tmp_path_factory: pytest.TempPathFactory) -> str:
    today = dt.date.today()
    seed = {"companies": [{
        "ref": "many-invoices", "name": "Many Invoices Trading", "portal_enabled": True,
        "contacts": [{"ref": "ops", "name": "Noura Al Mansoori", "email": EMAIL}],
        "invoices": [{
            "ref": f"many-{n}", "number": f"INV-2026-{n:05d}", "status": "sent", "currency": "KWD",
            "issued_date": (today - dt.timedelta(days=40)).isoformat(),
            "due_date": (today + dt.timedelta(days=n * 3 - 10)).isoformat(),
            "tax": "0.000", "amount_paid": "0.000",
            "lines": [{"description": "Maintenance visit", "quantity": "1", "unit_price": f"{1234 + n}.250"}],
        } for n in range(1, INVOICES + 1)],
    }]}
    path: Path = tmp_path_factory.mktemp("compact") / "many-invoices.json"
    path.write_text(json.dumps(seed), encoding="utf-8")
    portal.cli("seed", str(path))
    # A payment provider, so the lists carry Pay Now and the Pay selected checkboxes (the Arabic test connects the
    # same account).
    portal.cli("payments", "connect", "stripe", "--secret-key", "sk_test_browser_0123",
               "--webhook-secret", "whsec_browser_4567")
    found = re.search(r"https?://\S+/p/[^\s/]+", portal.cli("link", "many-invoices"))
    assert found, "portal link printed no link"
    return found.group(0).rstrip("/")


def _boxes(row: Any) -> dict[str, dict[str, float]]:
    """The visible box of each part of one list row, by its role in the row (c-name, c-amount, ...)."""
    return row.evaluate("""row => Object.fromEntries([...row.querySelectorAll('[class*="c-"]')]
        .filter(cell => cell.getClientRects().length)
        .map(cell => { const r = cell.getBoundingClientRect();
                       const part = [...cell.classList].find(c => c.startsWith('c-'));
                       return [part, {x: r.x, y: r.y, width: r.width, height: r.height,
                                      mid: r.y + r.height / 2}]; }))""")


def _reads_in_two_lines(row: Any, rtl: bool) -> None:
    box = _boxes(row)
    assert "c-extra" not in box, "the columns left to the invoice's own page are hidden on a phone"
    name, amount, date, status = box["c-name"], box["c-amount"], box["c-date"], box["c-status"]
    assert abs(name["mid"] - amount["mid"]) < 8, f"number and amount share the first line: {box}"
    assert abs(date["mid"] - status["mid"]) < 8, f"due date and status share the second line: {box}"
    assert date["y"] >= name["y"] + name["height"] - 2, f"the due date is under the number: {box}"
    if rtl:
        assert name["x"] > amount["x"], f"right to left: the number is at the right, the amount at its left: {box}"
    else:
        assert name["x"] < amount["x"], f"left to right: the number first, then the amount: {box}"
    whole = row.bounding_box()
    assert whole["height"] < 90, f"a row is two lines, not a five-row card: {whole}"
    for beside in ("c-act", "c-pick"):  # Pay Now and the Pay selected checkbox sit beside both lines
        if beside in box:
            assert whole["y"] <= box[beside]["y"] and box[beside]["y"] + box[beside]["height"] <= whole["y"] + whole[
                "height"], f"{beside} stays within its row: {box}"
    if "c-act" in box:  # Pay Now ends the second line, under the amount at the end of the first
        act = box["c-act"]
        ends = (act["x"], amount["x"]) if rtl else (act["x"] + act["width"], amount["x"] + amount["width"])
        assert abs(ends[0] - ends[1]) < 3, f"Pay Now and the amount share the line's end: {box}"


@pytest.mark.parametrize("language", ["en", "ar"])
def test_a_phone_lists_each_invoice_in_two_lines(browser: Any, signed_in_state: Any, many_invoices_link: str,
                                                 language: str) -> None:
    context = _browser_in(browser, signed_in_state, language, PHONE)
    try:
        page = context.pages[0]
        for path in ("/", "/invoices"):
            page.goto(many_invoices_link + path)
            rows = page.locator("table.compact tbody tr")
            expect(rows.first).to_be_visible()
            assert rows.count() >= INVOICES if path == "/invoices" else rows.count() >= 5
            expect(page.locator("html")).to_have_attribute("lang", language)
            screenshot(page, f"compact{path.replace('/', '-')}-{language}")
            page.set_viewport_size(PHONE)
            for index in range(rows.count()):
                _reads_in_two_lines(rows.nth(index), rtl=language == "ar")
            expect(rows.first.locator(".c-act button")).to_be_visible()
            if path == "/invoices":
                expect(rows.first.locator(".c-pick input[type=checkbox]")).to_be_visible()
        # Ten pending invoices used to make the phone's list 3,500 px tall.
        table = page.locator("table.compact").first
        assert table.bounding_box()["height"] < INVOICES * 90
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"the {language} invoice list is {overflow}px wider than the phone"
        # The navigation wraps: every section's link is on the screen, none hidden past an edge.
        navigation = page.locator("nav.site-nav")
        assert navigation.evaluate("n => n.scrollWidth - n.clientWidth") <= 0
        for link in navigation.get_by_role("link").all():
            box = link.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    finally:
        context.close()


@pytest.mark.parametrize("language", ["en", "ar"])
def test_the_desktop_home_cards_keep_numbers_and_dates_on_one_line(browser: Any, signed_in_state: Any,
                                                                   many_invoices_link: str, language: str) -> None:
    context = _browser_in(browser, signed_in_state, language, DESKTOP)
    try:
        page = context.pages[0]
        page.goto(many_invoices_link + "/")
        rows = page.locator("table.compact tbody tr")
        expect(rows.first).to_be_visible()
        line = page.evaluate("parseFloat(getComputedStyle(document.body).lineHeight)")
        for index in range(rows.count()):
            row = rows.nth(index)
            _reads_in_two_lines(row, rtl=language == "ar")
            for part in ("c-name", "c-date", "c-amount"):
                height = row.locator(f".{part}").evaluate(
                    "cell => { const range = document.createRange(); range.selectNodeContents(cell);"
                    " return range.getBoundingClientRect().height; }")
                assert height < line * 1.5, f"{part} of row {index} wraps onto {height / line:.1f} lines"
        screenshot(page, f"compact-home-desktop-{language}")
        # The full invoice list on a desktop stays a table with every column.
        page.goto(many_invoices_link + "/invoices")
        expect(page.locator("table.compact thead")).to_be_visible()
        expect(page.locator("table.compact tbody tr").first.locator(".c-extra")).to_be_visible()
    finally:
        context.close()


@pytest.fixture(scope="module")
def signed_in_state(browser: Any, portal: RunningPortal, many_invoices_link: str) -> Any:
    """One sign-in for the module (in English: sign_in reads the English pages); the contact keeps no saved
    language, so each test's browser language decides."""
    context = browser.new_context()
    try:
        sign_in(context.new_page(), attrs.evolve(portal, link=many_invoices_link), EMAIL)
        return context.storage_state()
    finally:
        context.close()


def _browser_in(browser: Any, state: Any, language: str, viewport: dict[str, int]) -> Any:
    context = browser.new_context(storage_state=state, viewport=viewport,
                                  extra_http_headers={"Accept-Language": language})
    context.new_page()
    return context
