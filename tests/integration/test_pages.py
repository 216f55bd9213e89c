"""The portal's pages through the Flask test client: home, every section, pagination, money, dates and the 404 walk."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import g, url_for

from entrypoints.demo import demo_seed
from entrypoints.web.pages import NAV_ITEMS
from portal_core import companies

from .web_fixtures import NOW, TODAY, SignedIn, WebPortal, homer, make_portal

__all__ = ["homer"]  # a fixture imported for pytest, not unused

LIST_PAGES = ["/", "/quotes", "/invoices", "/tasks", "/projects", "/jobs", "/products", "/about", "/contact"]
DAY = dt.timedelta(days=1)


def day(offset: int) -> str:
    return (TODAY + offset * DAY).isoformat()


def human(offset: int) -> str:
    date = TODAY + offset * DAY
    return f"{date.day} {date:%b %Y}"


def main_of(html: str) -> str:
    """The page's <main>: what the page itself says, without the header, navigation and footer."""
    found = re.search(r"<main[^>]*>(.*)</main>", html, re.S)
    assert found, "no <main> on the page"
    return found.group(1)


def section(html: str, heading: str) -> str:
    """The <section> whose h2 is `heading`."""
    for part in re.findall(r"<section\b.*?</section>", html, re.S):
        if re.search(rf"<h2[^>]*>{re.escape(heading)}</h2>", part):
            return part
    raise AssertionError(f"no section headed {heading!r}")


def rows_of(html: str) -> list[str]:
    return re.findall(r"<tbody>.*?</tbody>", html, re.S)[0].split("<tr>")[1:] if "<tbody>" in html else []


# A second client company with one of every record, so every detail route has another company's id to try.
ACME = {
    "ref": "acme", "name": "Acme Rockets", "portal_enabled": True,
    "contacts": [{"ref": "wile", "name": "Wile E. Coyote", "email": "wile@acme.example"}],
    "projects": [{"ref": "acme-p1", "name": "Secret launch pad", "status": "active"}],
    "jobs": [{"ref": "acme-j1", "title": "Rocket skates overhaul", "status": "in_progress", "project": "acme-p1",
              "scheduled_start": day(-1)}],
    "tasks": [{"ref": "acme-t1", "title": "Polish the anvil", "status": "open", "job": "acme-j1"}],
    "quotes": [{"ref": "acme-q1", "number": "Q-ACME-7", "status": "sent", "currency": "JPY", "issued_date": day(-1),
                "valid_until": day(3), "lines": [{"description": "Giant magnet", "quantity": "1",
                                                  "unit_price": "5000"}]},
               {"ref": "acme-q2", "number": "Q-ACME-DRAFT", "status": "draft", "currency": "JPY",
                "issued_date": None, "valid_until": None,
                "lines": [{"description": "Unsent idea", "quantity": "1", "unit_price": "1"}]}],
    "invoices": [{"ref": "acme-i1", "number": "INV-ACME-9", "status": "sent", "currency": "JPY",
                  "issued_date": day(-30), "due_date": day(-2), "job": "acme-j1",
                  "lines": [{"description": "Dehydrated boulders", "quantity": "2", "unit_price": "2500"}]}],
    "files": [{"ref": "acme-f1", "name": "blueprints-acme.txt", "content_type": "text/plain",
               "content_base64": "QWNtZQo=", "attached_to": {"job": "acme-j1"}},
              {"ref": "acme-f2", "name": "acme-receipt.txt", "content_type": "text/plain",
               "content_base64": "QWNtZQo=", "attached_to": {"invoice": "acme-i1"}}],
}


def with_companies(*companies: dict[str, Any]) -> Any:
    document = demo_seed(TODAY)
    document["companies"].extend(companies)
    return document


@pytest.fixture
def portal(store_url: str) -> Iterator[WebPortal]:
    """The demo plus Acme, a company whose records Globex's contacts must never reach (homer signs in here); once
    in each store (memory, SQLite, PostgreSQL)."""
    portal = make_portal(seed=with_companies(ACME), database_url=store_url)
    yield portal
    portal.services.close()


# ---- signing in and out


@pytest.mark.parametrize("path", LIST_PAGES + ["/quotes/x", "/invoices/x", "/projects/x", "/jobs/x"])
def test_every_page_sends_an_anonymous_visitor_to_sign_in(portal: WebPortal, path: str) -> None:
    token = portal.token("globex")
    response = portal.app.test_client().get(f"/p/{token}{path}")
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/p/{token}/login")


def test_the_link_as_printed_opens_the_home_page_without_a_redirect(portal: WebPortal, homer: SignedIn) -> None:
    with portal.services.uow() as uow:
        globex = companies.find_company(uow, "globex")
    link = companies.portal_link("https://portal.example", globex)
    path = link.removeprefix("https://portal.example")
    assert not path.endswith("/")  # `portal link` prints it so, and CRMs email it so
    response = homer.client.get(path)
    assert response.status_code == 200 and "Welcome, Homer Simpson" in response.text
    anonymous = portal.app.test_client().get(path)
    assert anonymous.status_code == 303 and anonymous.headers["Location"].endswith("/login")


def test_a_session_of_one_portal_does_not_open_another(portal: WebPortal) -> None:
    wile = portal.sign_in("acme", "wile@acme.example")
    response = wile.client.get(f"/p/{portal.token('globex')}/")
    assert response.status_code == 303


def test_every_route_answers_404_once_portal_access_is_disabled(portal: WebPortal, homer: SignedIn) -> None:
    ids = {kind: portal.id_of(kind, ref) for kind, ref in
           [("invoices", "globex-i1"), ("quotes", "globex-q1"), ("jobs", "globex-j1"), ("projects", "globex-p1")]}
    assert homer.get("/").status_code == 200
    companies.set_portal_access(portal.services.uow(), "globex", enabled=False)
    paths = LIST_PAGES + [f"/invoices/{ids['invoices']}", f"/quotes/{ids['quotes']}", f"/jobs/{ids['jobs']}",
                          f"/projects/{ids['projects']}", "/invoices?page=2"]
    for path in paths:
        response = homer.get(path)
        assert response.status_code == 404, path
        assert "INV-2001" not in response.text and "Homer" not in response.text


# ---- home


def test_home_greets_the_contact_by_name(homer: SignedIn) -> None:
    page = homer.get("/")
    assert page.status_code == 200
    assert "<h1>Welcome, Homer Simpson</h1>" in page.text


def test_home_take_actions_lists_the_overdue_invoice_then_the_quote_expiring_this_week(homer: SignedIn) -> None:
    actions = section(homer.get("/").text, "Take Actions")
    # INV-2001: 3 h x AED 120.00 + AED 18.00 tax, nothing paid, due ten days ago.
    assert "INV-2001" in actions and "AED 378.00" in actions and human(-10) in actions
    # Q-1001 expires in 5 days (within 7); Q-1002 in 28 is pending but not urgent.
    assert "Q-1001" in actions and "AED 1,620.00" in actions and human(5) in actions
    assert "Q-1002" not in actions
    assert actions.index("INV-2001") < actions.index("Q-1001")
    # INV-2002 is open but not yet due; INV-1990 is paid.
    assert "INV-2002" not in actions and "INV-1990" not in actions


def test_home_pending_invoices_show_amount_outstanding_due_date_and_status(homer: SignedIn) -> None:
    pending = section(homer.get("/").text, "Pending Invoices")
    rows = rows_of(pending)
    assert [re.search(r"INV-\d+", row).group(0) for row in rows] == ["INV-2001", "INV-2002"]  # type: ignore[union-attr]
    assert "AED 378.00" in rows[0] and human(-10) in rows[0] and "Overdue" in rows[0]
    # INV-2002: AED 900.00 + 45.00 tax - 400.00 paid.
    assert "AED 545.00" in rows[1] and human(25) in rows[1] and "Partially paid" in rows[1]


def test_home_pending_quotes_are_the_sent_unexpired_ones(homer: SignedIn) -> None:
    quotes = section(homer.get("/").text, "Pending Quotes")
    assert "Q-1001" in quotes and "Q-1002" in quotes and "AED 3,420.00" in quotes
    assert "Q-0998" not in quotes  # accepted


def test_home_active_jobs_leave_out_completed_ones(homer: SignedIn) -> None:
    jobs = section(homer.get("/").text, "Active Jobs")
    assert "Replace AC unit" in jobs and "Quarterly AC service" in jobs and "In progress" in jobs
    assert "Warehouse LED retrofit" not in jobs


def test_home_has_the_about_us_block(homer: SignedIn) -> None:
    about = section(homer.get("/").text, "About Us")
    assert "Falcon Facilities keeps offices across the Gulf cool" in about


def test_home_new_request_button_links_to_the_request_form_when_it_exists(portal: WebPortal,
                                                                         homer: SignedIn) -> None:
    page = main_of(homer.get("/").text)
    if "client_requests.new" in portal.app.view_functions:
        with portal.app.test_request_context():
            g.link_token = homer.token
            href = url_for("client_requests.new")
        assert f'<a class="button" href="{href}">New request</a>' in page
    else:
        assert "New request" not in page


def test_home_with_nothing_pending_says_so(portal: WebPortal) -> None:
    portal.seed({"companies": [{"ref": "quiet", "name": "Quiet Co", "portal_enabled": True,
                                "contacts": [{"ref": "q", "name": "Quinn", "email": "quinn@quiet.example"}]}]})
    page = portal.sign_in("quiet", "quinn@quiet.example").get("/").text
    assert "Nothing needs your attention right now." in page
    assert "No invoices waiting for payment." in page and "No jobs in progress." in page


def test_a_busy_home_shows_ten_of_each_the_right_ones_and_says_there_is_more(portal: WebPortal) -> None:
    line = [{"description": "Work", "quantity": "1", "unit_price": "100"}]
    invoices = [{"ref": f"busy-i{n}", "number": f"INV-B{n:02d}", "status": "sent", "currency": "AED",
                 "issued_date": day(-60), "due_date": day(n - 12), "lines": line} for n in range(24)]
    # Newest issued first: twelve lapsed quotes are the newest, then fourteen open ones, three of which expire soon.
    quotes = ([{"ref": f"busy-lapsed{n}", "number": f"Q-L{n:02d}", "status": "sent", "currency": "AED",
                "issued_date": day(-1), "valid_until": day(-1), "lines": line} for n in range(12)]
              + [{"ref": f"busy-q{n}", "number": f"Q-B{n:02d}", "status": "sent", "currency": "AED",
                  "issued_date": day(-2 - n), "valid_until": day(30 - n if n < 11 else 16 - n), "lines": line}
                 for n in range(14)])
    jobs = [{"ref": f"busy-j{n}", "title": f"Job B{n:02d}", "status": "scheduled", "scheduled_start": day(n)}
            for n in range(12)]
    portal.seed({"companies": [{"ref": "busy", "name": "Busy Co", "portal_enabled": True,
                                "contacts": [{"ref": "b", "name": "Bea", "email": "bea@busy.example"}],
                                "invoices": invoices, "quotes": quotes, "jobs": jobs}]})
    page = portal.sign_in("busy", "bea@busy.example").get("/").text
    actions = section(page, "Take Actions")
    assert [f"INV-B{n:02d}" in actions for n in range(12)] == [True] * 10 + [False] * 2  # the ten most overdue
    assert [f"Q-B{n:02d}" in actions for n in (11, 12, 13)] == [True] * 3  # expiring within the week
    assert "Q-L" not in actions and "Q-B10" not in actions
    pending = section(page, "Pending Invoices")
    assert len(rows_of(pending)) == 10 and "More invoices are waiting" in pending
    quotes_section = section(page, "Pending Quotes")
    assert "Q-L" not in quotes_section  # lapsed quotes are not awaiting review, however new
    assert [f"Q-B{n:02d}" in quotes_section for n in range(12)] == [True] * 10 + [False] * 2
    assert "More quotes are waiting" in quotes_section
    jobs_section = section(page, "Active Jobs")
    assert len(rows_of(jobs_section)) == 10 and "More jobs are under way" in jobs_section


# ---- navigation, look and feel


def test_navigation_lists_every_section_in_the_help_articles_order(portal: WebPortal, homer: SignedIn) -> None:
    assert [label for _e, label in NAV_ITEMS] == [
        "Home", "Requests", "Quotes", "Invoices", "Tasks", "Projects", "Jobs", "Files", "Products/Services",
        "About Us", "Contact"]
    nav = re.search(r'<nav class="site-nav".*?</nav>', homer.get("/").text, re.S).group(0)  # type: ignore[union-attr]
    shown = re.findall(r">([^<>]+)</a>", nav)
    assert shown == [label for endpoint, label in NAV_ITEMS if endpoint in portal.app.view_functions]
    assert {"Home", "Quotes", "Invoices", "Tasks", "Projects", "Jobs", "Products/Services", "About Us",
            "Contact"} <= set(shown)


def test_every_nav_link_works_and_marks_its_page_current(homer: SignedIn) -> None:
    nav = re.search(r'<nav class="site-nav".*?</nav>', homer.get("/").text, re.S).group(0)  # type: ignore[union-attr]
    for href, label in re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', nav):
        response = homer.client.get(href)
        assert response.status_code == 200, (label, response.status_code)
        assert re.search(rf'aria-current="page">{re.escape(label)}</a>', response.text), label


def test_detail_pages_mark_their_section_current(portal: WebPortal, homer: SignedIn) -> None:
    page = homer.get(f"/invoices/{portal.id_of('invoices', 'globex-i1')}").text
    assert 'aria-current="page">Invoices</a>' in page


def test_pages_carry_no_inline_script_or_style_and_have_one_h1(portal: WebPortal, homer: SignedIn) -> None:
    details = [f"/invoices/{portal.id_of('invoices', 'globex-i1')}", f"/quotes/{portal.id_of('quotes', 'globex-q1')}",
               f"/jobs/{portal.id_of('jobs', 'globex-j1')}", f"/projects/{portal.id_of('projects', 'globex-p1')}"]
    for path in LIST_PAGES + details:
        response = homer.get(path)
        html = response.text
        assert response.status_code == 200, path
        assert "<script" not in html and "style=" not in html and "<style" not in html, path
        assert html.count("<h1") == 1, path
        assert "Content-Security-Policy" in response.headers
        for table in re.findall(r"<table\b.*?</table>", html, re.S):
            assert "<th scope=" in table, path
            if 'class="responsive"' in table:
                cells = re.findall(r"<td\b[^>]*>", table)
                assert all("data-label=" in cell for cell in cells), path


# ---- sections


def test_invoices_are_listed_overdue_first_then_by_due_date(homer: SignedIn) -> None:
    page = main_of(homer.get("/invoices").text)
    assert re.findall(r"INV-\d+", page) == ["INV-2001", "INV-1990", "INV-2002"]


def test_invoice_detail_shows_lines_tax_totals_status_due_date_and_files(portal: WebPortal,
                                                                         homer: SignedIn) -> None:
    page = main_of(homer.get(f"/invoices/{portal.id_of('invoices', 'globex-i1')}").text)
    assert "<h1>Invoice INV-2001</h1>" in page
    assert "Labour (hours)" in page and "AED 120.00" in page and "AED 360.00" in page
    assert re.search(r"Tax</th><td[^>]*>AED 18.00", page)
    assert re.search(r"Total</th><td[^>]*><strong>AED 378.00", page)
    assert re.search(r"Paid</th><td[^>]*>AED 0.00", page)
    assert re.search(r"Outstanding</th><td[^>]*><strong>AED 378.00", page)
    assert "Overdue" in page and human(-10) in page
    assert "INV-2001 timesheet.txt" in page
    assert "site-survey.pdf" not in page  # the job's file, not the invoice's


def test_invoice_files_link_to_the_file_routes_when_they_exist(portal: WebPortal, homer: SignedIn) -> None:
    page = main_of(homer.get(f"/invoices/{portal.id_of('invoices', 'globex-i1')}").text)
    if "files.download" in portal.app.view_functions:
        assert f"/p/{homer.token}/files/" in page
    else:
        assert "Download" not in page


def test_a_partially_paid_invoice_shows_what_was_paid_and_what_is_left(portal: WebPortal, homer: SignedIn) -> None:
    page = main_of(homer.get(f"/invoices/{portal.id_of('invoices', 'globex-i2')}").text)
    assert re.search(r"Paid</th><td[^>]*>AED 400.00", page)
    assert re.search(r"Outstanding</th><td[^>]*><strong>AED 545.00", page)
    assert "Partially paid" in page and "Overdue" not in page


def test_quotes_list_every_client_visible_quote(homer: SignedIn) -> None:
    page = main_of(homer.get("/quotes").text)
    assert re.findall(r"Q-\d+", page) == ["Q-1002", "Q-1001", "Q-0998"]  # newest issued first
    assert "Accepted" in page


def test_quote_detail_is_view_only_and_says_how_to_accept(portal: WebPortal, homer: SignedIn) -> None:
    page = main_of(homer.get(f"/quotes/{portal.id_of('quotes', 'globex-q1')}").text)
    assert "<h1>Quote Q-1001</h1>" in page
    assert "Chiller replacement" in page and "AED 900.00" in page and "AED 720.00" in page
    assert "AED 1,620.00" in page and human(5) in page
    assert "acceptance is handled with Falcon Facilities directly" in page
    assert "office@falcon.example" in page and "+971 4 000 0000" in page
    assert "<form" not in page and "<button" not in page


def test_tasks_list_with_their_jobs(portal: WebPortal, homer: SignedIn) -> None:
    page = main_of(homer.get("/tasks").text)
    titles = re.findall(r'data-label="Task">([^<]+)<', page)
    assert titles == ["Remove old unit", "Commission new unit", "Site survey"]  # open first, then by due date
    assert f"/jobs/{portal.id_of('jobs', 'globex-j1')}" in page and "Polish the anvil" not in page


def test_projects_and_project_detail_with_its_jobs(portal: WebPortal, homer: SignedIn) -> None:
    page = main_of(homer.get("/projects").text)
    assert "HQ refit" in page and "Warehouse lighting" in page and "Secret launch pad" not in page
    detail = main_of(homer.get(f"/projects/{portal.id_of('projects', 'globex-p1')}").text)
    assert "<h1>HQ refit</h1>" in detail and "Replace AC unit" in detail
    assert "Quarterly AC service" not in detail and "Warehouse LED retrofit" not in detail


def test_jobs_are_listed_by_scheduled_start(homer: SignedIn) -> None:
    page = main_of(homer.get("/jobs").text)
    titles = re.findall(r'data-label="Job"><a [^>]*>([^<]+)<', page)
    assert titles == ["Warehouse LED retrofit", "Replace AC unit", "Quarterly AC service"]
    assert human(-60) in page and "Completed" in page


def test_job_detail_shows_its_tasks_files_and_project(portal: WebPortal, homer: SignedIn) -> None:
    page = main_of(homer.get(f"/jobs/{portal.id_of('jobs', 'globex-j1')}").text)
    assert "<h1>Replace AC unit</h1>" in page
    assert "Site survey" in page and "Remove old unit" in page and "Commission new unit" in page
    assert "site-survey.pdf" in page and "INV-2001 timesheet.txt" not in page
    assert "HQ refit" in page and human(-10) in page and human(4) in page


def test_products_are_the_business_catalogue(homer: SignedIn) -> None:
    page = main_of(homer.get("/products").text)
    assert "<h1>Products/Services</h1>" in page
    assert "AC maintenance" in page and "AED 150.00" in page and "LED lighting retrofit" in page
    assert "AED 85.50" in page and "Engineer on site within 4 hours, any day" in page


def test_about_and_contact_pages_show_the_business(homer: SignedIn) -> None:
    about = main_of(homer.get("/about").text)
    assert "<h1>About Us</h1>" in about and "emergency call-outs since 2001" in about
    contact = main_of(homer.get("/contact").text)
    assert "<h1>Contact</h1>" in contact
    assert "office@falcon.example" in contact and "+971 4 000 0000" in contact
    assert "Office 1204, Bay Square, Business Bay, Dubai, UAE" in contact


# ---- drafts, other companies, and what nobody may reach


def test_drafts_appear_nowhere(portal: WebPortal, homer: SignedIn) -> None:
    secrets = ["Q-1003", "INV-2003", "Draft: not for the client yet", "Commissioning"]
    for path in LIST_PAGES + [f"/jobs/{portal.id_of('jobs', 'globex-j1')}",
                              f"/projects/{portal.id_of('projects', 'globex-p1')}"]:
        page = homer.get(path).text
        for secret in secrets:
            assert secret not in page, (path, secret)
    drafts = [f"/invoices/{portal.id_of('invoices', 'globex-i4')}", f"/quotes/{portal.id_of('quotes', 'globex-q4')}"]
    for path in drafts:
        response = homer.get(path)
        assert response.status_code == 404
        assert not any(secret in response.text for secret in secrets)


def test_another_companys_records_answer_404_and_reveal_nothing(portal: WebPortal, homer: SignedIn) -> None:
    others = {
        "invoices": [("acme-i1", "INV-ACME-9"), ("initech-i1", "INV-3001")],
        "quotes": [("acme-q1", "Q-ACME-7"), ("acme-q2", "Q-ACME-DRAFT")],
        "jobs": [("acme-j1", "Rocket skates overhaul"), ("initech-j1", "Server room cooling")],
        "projects": [("acme-p1", "Secret launch pad")],
    }
    missing = homer.get("/invoices/no-such-id")
    assert missing.status_code == 404
    for kind, records in others.items():
        for ref, name in records:
            response = homer.get(f"/{kind}/{portal.id_of(kind, ref)}")
            assert response.status_code == 404, (kind, ref)
            assert name not in response.text, (kind, ref)
            assert main_of(response.text) == main_of(missing.text)  # exactly what a made-up id gets
    # File ids are not accepted where record ids are, either.
    assert homer.get(f"/jobs/{portal.id_of('files', 'acme-f1')}").status_code == 404


def test_no_list_page_shows_another_companys_records(portal: WebPortal, homer: SignedIn) -> None:
    foreign = ["INV-ACME-9", "INV-3001", "Q-ACME-7", "Rocket skates overhaul", "Server room cooling",
               "Secret launch pad", "Polish the anvil", "blueprints-acme.txt", "acme-receipt.txt", "cooling-plan.txt",
               "KWD", "JPY"]
    for path in LIST_PAGES:
        page = homer.get(path).text
        for name in foreign:
            assert name not in page, (path, name)


def test_the_other_company_sees_its_own_records(portal: WebPortal) -> None:
    wile = portal.sign_in("acme", "wile@acme.example")
    home = wile.get("/").text
    assert "Welcome, Wile E. Coyote" in home and "INV-ACME-9" in home and "Q-ACME-7" in home
    assert "INV-2001" not in home and "Q-ACME-DRAFT" not in home
    assert wile.get(f"/invoices/{portal.id_of('invoices', 'globex-i1')}").status_code == 404


# ---- money, dates and pagination


def test_money_has_the_currencys_own_decimals(portal: WebPortal) -> None:
    peter = portal.sign_in("initech", "peter@initech.example")
    assert "KWD 12.345" in peter.get("/invoices").text
    assert "KWD 12.345" in peter.get(f"/invoices/{portal.id_of('invoices', 'initech-i1')}").text
    wile = portal.sign_in("acme", "wile@acme.example")
    invoices = wile.get("/invoices").text
    assert "JPY 5,000" in invoices and "JPY 5,000." not in invoices
    quote = wile.get(f"/quotes/{portal.id_of('quotes', 'acme-q1')}").text
    assert "JPY 5,000" in quote and "JPY 5,000." not in quote
    homer = portal.sign_in("globex", "homer@globex.example")
    assert "AED 360.00" in homer.get(f"/invoices/{portal.id_of('invoices', 'globex-i1')}").text


def test_dates_read_as_a_person_writes_them(homer: SignedIn) -> None:
    page = main_of(homer.get("/invoices").text)
    assert "21 Nov 2026" in page and "2026-11-21" not in page  # INV-2001, due ten days before 1 Dec 2026
    assert NOW.date() - 10 * DAY == dt.date(2026, 11, 21)


def many_invoices(count: int) -> dict[str, Any]:
    return {"ref": "bulk", "name": "Bulk Buyers", "portal_enabled": True,
            "contacts": [{"ref": "bea", "name": "Bea Bulk", "email": "bea@bulk.example"}],
            "invoices": [{"ref": f"bulk-i{n:02d}", "number": f"INV-B{n:02d}", "status": "sent", "currency": "AED",
                          "issued_date": day(-1), "due_date": day(n),
                          "lines": [{"description": "Item", "quantity": "1", "unit_price": "10.00"}]}
                         for n in range(1, count + 1)]}


@pytest.fixture
def bulk(store_url: str) -> Iterator[SignedIn]:
    portal = make_portal(seed=with_companies(many_invoices(30)), database_url=store_url)
    yield portal.sign_in("bulk", "bea@bulk.example")
    portal.services.close()


def invoice_numbers(html: str) -> list[str]:
    return re.findall(r"INV-B\d\d", main_of(html))


def test_lists_show_25_a_page_and_link_to_the_next(bulk: SignedIn) -> None:
    first = bulk.get("/invoices")
    assert invoice_numbers(first.text) == [f"INV-B{n:02d}" for n in range(1, 26)]
    assert 'rel="next"' in first.text and 'rel="prev"' not in first.text
    assert bulk.get("/invoices?page=1").text.count("INV-B") == first.text.count("INV-B")
    second = bulk.get("/invoices?page=2")
    assert second.status_code == 200
    assert invoice_numbers(second.text) == [f"INV-B{n:02d}" for n in range(26, 31)]
    assert 'rel="prev"' in second.text and 'rel="next"' not in second.text


@pytest.mark.parametrize(("count", "pages"), [(25, 1), (26, 2)])
def test_exactly_a_page_has_no_next_link_and_one_more_row_makes_a_second_page(store_url: str, count: int,
                                                                             pages: int) -> None:
    portal = make_portal(seed=with_companies(many_invoices(count)), database_url=store_url)
    try:
        bea = portal.sign_in("bulk", "bea@bulk.example")
        first = bea.get("/invoices")
        assert invoice_numbers(first.text) == [f"INV-B{n:02d}" for n in range(1, 26)]
        assert ('rel="next"' in first.text) == (pages == 2)
        second = bea.get("/invoices?page=2")
        assert invoice_numbers(second.text) == ([] if pages == 1 else ["INV-B26"])
        assert 'rel="next"' not in second.text
    finally:
        portal.services.close()


def test_due_today_is_not_overdue_and_a_quote_expiring_on_the_7th_day_is_urgent_on_the_8th_not(
        portal: WebPortal) -> None:
    line = [{"description": "Work", "quantity": "1", "unit_price": "100"}]
    portal.seed({"companies": [{
        "ref": "edge", "name": "Edge Co", "portal_enabled": True,
        "contacts": [{"ref": "e", "name": "Eve", "email": "eve@edge.example"}],
        "invoices": [{"ref": f"edge-i{offset}", "number": f"INV-E{offset + 1}", "status": "sent", "currency": "AED",
                      "issued_date": day(-30), "due_date": day(offset), "lines": line} for offset in (-1, 0)],
        "quotes": [{"ref": f"edge-q{offset}", "number": f"Q-E{offset}", "status": "sent", "currency": "AED",
                    "issued_date": day(-1), "valid_until": day(offset), "lines": line} for offset in (0, 7, 8)]}]})
    eve = portal.sign_in("edge", "eve@edge.example")
    actions = section(eve.get("/").text, "Take Actions")
    assert "INV-E0" in actions  # due yesterday: overdue
    assert "INV-E1" not in actions  # due today: not yet overdue
    assert "Q-E0" in actions and "Q-E7" in actions  # valid through today, and through the 7th day
    assert "Q-E8" not in actions  # the 8th day is not "within a week"
    invoices = main_of(eve.get("/invoices").text)
    assert invoices.index("INV-E0") < invoices.index("INV-E1")  # overdue first
    assert "Overdue" in rows_of(invoices)[0] and "Overdue" not in rows_of(invoices)[1]


def test_a_page_past_the_end_is_empty_not_an_error(bulk: SignedIn) -> None:
    for page in ["3", "99", str(10**30)]:
        response = bulk.get(f"/invoices?page={page}")
        assert response.status_code == 200, page
        assert invoice_numbers(response.text) == [] and "There are no more invoices." in response.text


@pytest.mark.parametrize("page", ["abc", "0", "-3", "", "1.5", "%00", "二"])
def test_a_page_that_is_not_a_page_number_is_page_one(bulk: SignedIn, page: str) -> None:
    response = bulk.get(f"/invoices?page={page}")
    assert response.status_code == 200
    assert len(invoice_numbers(response.text)) == 25 and "INV-B01" in response.text


@pytest.mark.parametrize("path", ["/quotes", "/tasks", "/projects", "/jobs", "/products"])
def test_every_list_survives_any_page_parameter(homer: SignedIn, path: str) -> None:
    for page in ["abc", "0", "2", "99", str(10**30)]:
        assert homer.get(f"{path}?page={page}").status_code == 200, (path, page)


# ---- a fixed number of repository calls per page


class CountingUnitOfWork:
    """Wraps a unit of work and counts every repository method called through it."""

    def __init__(self, inner: Any, counts: Counter[str]) -> None:
        self._inner = inner
        self._counts = counts

    def __enter__(self) -> CountingUnitOfWork:
        self._inner.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._inner.__exit__(*exc)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if name in {"commit", "rollback"} or callable(value):
            return value
        counts = self._counts

        class Repository:
            def __getattr__(self, method: str) -> Callable[..., Any]:
                def call(*args: Any, **kwargs: Any) -> Any:
                    counts[f"{name}.{method}"] += 1
                    return getattr(value, method)(*args, **kwargs)

                return call

        return Repository()


def calls_for(world: WebPortal, client: SignedIn, path: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    real = world.services.uow
    world.services.uow = lambda: CountingUnitOfWork(real(), counts)
    try:
        assert client.get(path).status_code == 200
    finally:
        world.services.uow = real
    return counts


def test_pages_make_the_same_repository_calls_however_many_records_they_show() -> None:
    small = make_portal()
    big_seed = demo_seed(TODAY)
    globex = big_seed["companies"][0]
    globex["tasks"] += [{"ref": f"extra-t{n}", "title": f"Extra {n}", "status": "open", "job": "globex-j2"}
                        for n in range(12)]
    globex["files"] += [{"ref": f"extra-f{n}", "name": f"extra-{n}.txt", "content_type": "text/plain",
                         "content_base64": "eA==", "attached_to": {"job": "globex-j1"}} for n in range(12)]
    globex["jobs"] += [{"ref": f"extra-j{n}", "title": f"Extra job {n}", "status": "scheduled",
                        "project": "globex-p1"} for n in range(12)]
    big = make_portal(seed=big_seed)
    clients = {id(world): world.sign_in("globex", "homer@globex.example") for world in (small, big)}
    for path in ["/", "/tasks", "/jobs", "/invoices", "/jobs/{globex-j1}", "/projects/{globex-p1}",
                 "/invoices/{globex-i1}"]:
        counted = []
        for world in (small, big):
            client = clients[id(world)]
            resolved = re.sub(r"\{(globex-(\w)\d)\}",
                              lambda m, w=world: w.id_of({"j": "jobs", "p": "projects", "i": "invoices"}[m.group(2)],
                                                         m.group(1)), path)
            counted.append(calls_for(world, client, resolved))
        assert counted[0] == counted[1], path
        assert sum(counted[0].values()) <= 12, (path, counted[0])
