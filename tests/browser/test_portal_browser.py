"""The portal in a real browser: Debian's Chromium, driven by Playwright, against `portal serve` with the demo seed.

Sign-in goes through the real flow (the code is read from the mail a real SMTP server on loopback received); every
page visited is screenshotted at phone and desktop width into artifacts/screenshots/ and must log no console error
(a CSP violation is one)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import MARGE, PHONE, ConsoleErrors, RunningPortal, screenshot, sign_in

pytestmark = pytest.mark.browser

# The navigation, in order, and the heading each section's page shows.
NAVIGATION = [
    ("Home", "Welcome, Homer Simpson"),
    ("Requests", "Requests"),
    ("Quotes", "Quotes"),
    ("Invoices", "Invoices"),
    ("Tasks", "Tasks"),
    ("Projects", "Projects"),
    ("Jobs", "Jobs"),
    ("Files", "Files"),
    ("Products/Services", "Products/Services"),
    ("About Us", "About Us"),
    ("Contact", "Contact"),
]


def nav(page: Any) -> Any:
    return page.get_by_role("navigation", name="Portal sections")


def fits_a_phone(page: Any) -> None:
    """At phone width nothing makes the whole page scroll sideways (the navigation scrolls inside itself)."""
    page.set_viewport_size(PHONE)
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{page.url} is {overflow}px wider than a {PHONE['width']}px phone screen"


def open_page(page: Any, url: str) -> None:
    response = page.goto(url)
    assert response is not None and response.status == 200, (url, response and response.status)


def test_signs_in_with_the_mailed_code_and_signs_out(fresh_page: Any, portal: RunningPortal,
                                                     console_errors: ConsoleErrors) -> None:
    page = fresh_page
    response = page.goto(portal.link + "/")
    assert page.url == portal.link + "/login", "an anonymous visit to home goes to the sign-in page"
    assert response is not None and response.status == 200
    sign_in(page, portal, MARGE)
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, Marge Simpson")
    expect(page.get_by_role("banner")).to_contain_text("Marge Simpson · Globex LLC")

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(portal.link + "/login")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
    page.goto(portal.link + "/invoices")
    assert page.url == portal.link + "/login", "after signing out the portal asks to sign in again"
    console_errors.assert_none()


def test_home_greets_the_contact_and_lists_what_needs_action(homer_page: Any, portal: RunningPortal,
                                                             console_errors: ConsoleErrors) -> None:
    page = homer_page
    open_page(page, portal.link + "/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, Homer Simpson")
    actions = page.locator("section", has=page.get_by_role("heading", name="Take Actions"))
    expect(actions).to_contain_text("Invoice INV-2001")
    expect(actions).to_contain_text("AED 378.00")
    expect(actions).to_contain_text("Quote Q-1001")
    expect(page.get_by_role("heading", name="Pending Invoices")).to_be_visible()
    expect(page.get_by_role("heading", name="Pending Quotes")).to_be_visible()
    expect(page.get_by_role("heading", name="Active Jobs")).to_be_visible()
    expect(page.get_by_role("heading", name="About Us")).to_be_visible()
    expect(page.get_by_role("link", name="New request")).to_be_visible()
    expect(page.locator("main")).not_to_contain_text("INV-2003")  # a draft
    expect(nav(page).get_by_role("link", name="Home", exact=True)).to_have_attribute("aria-current", "page")
    screenshot(page, "home")
    fits_a_phone(page)
    console_errors.assert_none()


def test_an_invoice_shows_its_lines_totals_and_outstanding_amount(homer_page: Any, portal: RunningPortal,
                                                                  console_errors: ConsoleErrors) -> None:
    page = homer_page
    open_page(page, portal.link + "/")
    page.locator("section", has=page.get_by_role("heading", name="Take Actions")).get_by_role(
        "link", name="Invoice INV-2001").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Invoice INV-2001")
    assert re.fullmatch(re.escape(portal.link) + r"/invoices/[^/]+", page.url), page.url
    lines = page.get_by_role("table", name="Invoice lines")
    expect(lines.get_by_role("row")).to_have_count(2)  # the header and one line
    expect(lines).to_contain_text("Labour (hours)")
    expect(lines).to_contain_text("AED 120.00")
    expect(lines).to_contain_text("AED 360.00")
    totals = page.get_by_role("table", name="Totals")
    expect(totals.get_by_role("row", name="Tax")).to_contain_text("AED 18.00")
    expect(totals.get_by_role("row", name="Total")).to_contain_text("AED 378.00")
    expect(totals.get_by_role("row", name="Paid")).to_contain_text("AED 0.00")
    expect(totals.get_by_role("row", name="Outstanding")).to_contain_text("AED 378.00")
    expect(page.locator(".status.overdue")).to_have_text("Overdue")
    expect(page.get_by_role("main")).to_contain_text("INV-2001 timesheet.txt")
    expect(nav(page).get_by_role("link", name="Invoices", exact=True)).to_have_attribute("aria-current", "page")
    screenshot(page, "invoice-INV-2001")
    fits_a_phone(page)
    console_errors.assert_none()


def test_a_job_shows_its_tasks_and_its_file_downloads_intact(homer_page: Any, portal: RunningPortal,
                                                             console_errors: ConsoleErrors) -> None:
    page = homer_page
    open_page(page, portal.link + "/jobs")
    page.get_by_role("link", name="Replace AC unit").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Replace AC unit")
    tasks = page.get_by_role("table", name="Tasks of this job")
    for title in ("Site survey", "Remove old unit", "Commission new unit"):
        expect(tasks).to_contain_text(title)
    expect(page.get_by_role("main")).to_contain_text("HQ refit")
    screenshot(page, "job-replace-ac-unit")
    fits_a_phone(page)

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download site-survey.pdf").click()
    download = download_info.value
    assert download.suggested_filename == "site-survey.pdf"
    assert download.failure() is None
    with open(download.path(), "rb") as downloaded:
        assert downloaded.read() == portal.seed_file_bytes("site-survey.pdf")
    console_errors.assert_none()


def test_a_quote_and_a_project_open_from_their_lists(homer_page: Any, portal: RunningPortal,
                                                     console_errors: ConsoleErrors) -> None:
    page = homer_page
    open_page(page, portal.link + "/quotes")
    page.get_by_role("link", name="Q-1001").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Quote Q-1001")
    expect(page.get_by_role("table", name="Quote lines")).to_contain_text("Chiller replacement")
    expect(page.get_by_role("button", name=re.compile("accept", re.I))).to_have_count(0)
    screenshot(page, "quote-Q-1001")
    fits_a_phone(page)

    open_page(page, portal.link + "/projects")
    page.get_by_role("link", name="HQ refit").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("HQ refit")
    expect(page.get_by_role("main")).to_contain_text("Replace AC unit")
    screenshot(page, "project-hq-refit")
    fits_a_phone(page)
    console_errors.assert_none()


def test_every_navigation_link_opens_its_section(homer_page: Any, portal: RunningPortal,
                                                 console_errors: ConsoleErrors) -> None:
    page = homer_page
    open_page(page, portal.link + "/")
    links = nav(page).get_by_role("link")
    assert links.all_inner_texts() == [label for label, _ in NAVIGATION]
    for label, heading in NAVIGATION:
        link = nav(page).get_by_role("link", name=label, exact=True)
        href = link.get_attribute("href")
        assert href and href.startswith(re.sub(r"^https?://[^/]+", "", portal.link) + "/"), (label, href)
        with page.expect_response(lambda r, href=href: r.request.resource_type == "document"
                                  and r.url == portal.base_url + href) as answer:
            link.click()
        assert answer.value.status == 200, (label, answer.value.status)
        page.wait_for_load_state()
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        expect(nav(page).get_by_role("link", name=label, exact=True)).to_have_attribute("aria-current", "page")
        screenshot(page, "section-" + re.sub(r"[^a-z]+", "-", label.lower()).strip("-"))
        fits_a_phone(page)
        page.set_viewport_size({"width": 1280, "height": 900})
    console_errors.assert_none()


def test_a_missing_page_is_the_portals_own_404(homer_page: Any, portal: RunningPortal,
                                               console_errors: ConsoleErrors) -> None:
    page = homer_page
    missing = portal.link + "/invoices/no-such-invoice"
    response = page.goto(missing)
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
    expect(nav(page)).to_be_visible()
    screenshot(page, "not-found")
    # The 404 of the document itself is expected (the browser logs it as a failed load); nothing else may be there.
    console_errors.messages = [m for m in console_errors.messages
                               if not ("status of 404" in m and m.startswith(missing))
                               and not m.endswith(f"document {missing} answered 404")]
    console_errors.assert_none()


def test_an_invoice_downloads_as_a_pdf_and_the_statement_reads_on_a_phone(homer_page: Any, portal: RunningPortal,
                                                                         console_errors: ConsoleErrors) -> None:
    import io

    import pypdf

    page = homer_page
    open_page(page, portal.link + "/invoices")
    page.get_by_role("link", name="INV-2001", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Invoice INV-2001")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download PDF of invoice INV-2001").click()
    download = download_info.value
    assert download.suggested_filename == "INV-2001.pdf" and download.failure() is None
    with open(download.path(), "rb") as downloaded:
        text = "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(downloaded.read())).pages)
    assert "Invoice INV-2001" in text and "Globex LLC" in text and "Outstanding AED 378.00" in text

    page.set_viewport_size(PHONE)
    open_page(page, portal.link + "/invoices")
    page.get_by_role("link", name="Statement of account").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Statement of account")
    expect(page.get_by_role("heading", name=re.compile(r"AED: AED [\d.]+ outstanding"))).to_be_visible()
    aging = page.get_by_role("table", name="Outstanding in AED by days overdue")
    for label in ("not yet due", "1–30", "31–60", "61–90", "over 90"):
        expect(aging).to_contain_text(label)
    expect(page.get_by_role("main")).to_contain_text("INV-2001")
    expect(nav(page).get_by_role("link", name="Invoices", exact=True)).to_have_attribute("aria-current", "page")
    screenshot(page, "statement")
    fits_a_phone(page)
    console_errors.assert_none()
