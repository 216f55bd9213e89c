"""Invoice and quote PDFs and the statement of account, through the Flask app, on SQLite and PostgreSQL.

Every PDF is read back with pypdf: the tests check what the document says, not that some bytes came back.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import io
import re
from collections.abc import Sequence
from typing import Any

import pypdf
import pytest
from pytest_httpserver import HTTPServer

from entrypoints.demo import demo_seed
from portal_core import companies

from .web_fixtures import TODAY, SignedIn, WebPortal, db_portal, homer, make_portal, portal

__all__ = ["db_portal", "homer", "portal"]  # fixtures imported for pytest, not unused

# A 1x1 PNG: enough for the PDF to carry an image when the logo can be fetched.
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJ"
                       "RU5ErkJggg==")


def _day(offset: int) -> str:
    return (TODAY + dt.timedelta(days=offset)).isoformat()


def _invoice(ref: str, number: str, *, currency: str = "AED", status: str = "sent", due: int | None = 30,
             issued: int = -400, price: str = "100.00", paid: str | None = None, tax: str | None = None,
             description: str = "Service visit") -> dict[str, Any]:
    zero = {"JPY": "0", "KWD": "0.000"}.get(currency, "0.00")
    invoice: dict[str, Any] = {"ref": ref, "number": number, "status": status, "currency": currency,
                               "issued_date": _day(issued), "tax": tax or zero, "amount_paid": paid or zero,
                               "lines": [{"description": description, "quantity": "1", "unit_price": price}]}
    if due is not None:
        invoice["due_date"] = _day(due)
    return invoice


def _seed(extra_invoices: Sequence[dict[str, Any]] = (), business: dict[str, Any] | None = None) -> Any:
    seed = copy.deepcopy(demo_seed(TODAY))
    seed["companies"][0]["invoices"].extend(extra_invoices)
    if business:
        seed["business"].update(business)
    return seed


@pytest.fixture
def db_homer(db_portal: WebPortal) -> SignedIn:
    return db_portal.sign_in("globex", "homer@globex.example")


def pdf_text(data: bytes) -> str:
    assert data.startswith(b"%PDF-"), data[:40]
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages)


def _attachment_name(response: Any) -> str:
    found = re.match(r'attachment; filename="([^"]+)"', response.headers["Content-Disposition"])
    assert found, response.headers["Content-Disposition"]
    return found.group(1)


def _audit(portal: WebPortal, company: str) -> list[tuple[str, str]]:
    lines = companies.audit_trail(portal.services.uow(), company)
    return [(line.entry.action, line.entry.detail) for line in lines]


# ---- invoice and quote PDFs


def test_an_invoice_pdf_says_everything_the_invoice_page_does(db_portal: WebPortal, db_homer: SignedIn) -> None:
    invoice_id = db_portal.id_of("invoices", "globex-i2")  # partially paid: every amount differs
    response = db_homer.get(f"/invoices/{invoice_id}/pdf")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/pdf"
    assert _attachment_name(response) == "INV-2002.pdf"
    assert "filename*=UTF-8''INV-2002.pdf" in response.headers["Content-Disposition"]
    text = pdf_text(response.data)
    for expected in ("Falcon Facilities", "Office 1204, Bay Square, Business Bay, Dubai, UAE", "office@falcon.example",
                     "+971 4 000 0000", "Globex LLC", "Invoice INV-2002", "Partially paid",
                     f"Issued {TODAY - dt.timedelta(days=5):%-d %b %Y}",
                     f"Due date {TODAY + dt.timedelta(days=25):%-d %b %Y}"):
        assert expected in text, expected
    with db_portal.services.uow() as uow:
        invoice = uow.invoices.get(invoice_id)
    assert invoice is not None
    for line in invoice.lines:
        assert line.description in text
    for label, amount in (("Tax", invoice.tax), ("Total", invoice.total), ("Paid", invoice.amount_paid),
                          ("Outstanding", invoice.outstanding)):
        assert f"{label} AED {amount.minor // 100:,}.{amount.minor % 100:02d}" in text, label
    assert ("document_downloaded", "invoice INV-2002") in _audit(db_portal, "globex")


def test_the_invoice_page_links_to_its_pdf_and_the_quote_page_to_its_own(portal: WebPortal) -> None:
    homer = portal.sign_in("globex", "homer@globex.example")
    invoice_id, quote_id = portal.id_of("invoices", "globex-i1"), portal.id_of("quotes", "globex-q1")
    assert f'href="/p/{homer.token}/invoices/{invoice_id}/pdf"' in homer.get(f"/invoices/{invoice_id}").text
    assert f'href="/p/{homer.token}/quotes/{quote_id}/pdf"' in homer.get(f"/quotes/{quote_id}").text


def test_a_quote_pdf_carries_its_lines_total_and_valid_until_date(db_portal: WebPortal, db_homer: SignedIn) -> None:
    quote_id = db_portal.id_of("quotes", "globex-q1")
    response = db_homer.get(f"/quotes/{quote_id}/pdf")
    assert response.status_code == 200 and _attachment_name(response) == "Q-1001.pdf"
    text = pdf_text(response.data)
    with db_portal.services.uow() as uow:
        quote = uow.quotes.get(quote_id)
    assert quote is not None and quote.valid_until is not None
    assert "Quote Q-1001" in text and "Globex LLC" in text and "Sent" in text
    assert f"Valid until {quote.valid_until.day} {quote.valid_until:%b %Y}" in text
    assert all(line.description in text for line in quote.lines)
    assert f"Total {quote.total.currency} {quote.total.minor // 100:,}.{quote.total.minor % 100:02d}" in text
    assert ("document_downloaded", "quote Q-1001") in _audit(db_portal, "globex")


def test_amounts_carry_their_currencys_own_decimals() -> None:
    portal = make_portal(seed=_seed([
        _invoice("g-kwd", "INV-KWD", currency="KWD", price="12.345"),
        _invoice("g-jpy", "INV-JPY", currency="JPY", price="5000", tax="400"),
    ]))
    homer = portal.sign_in("globex", "homer@globex.example")
    kwd = pdf_text(homer.get(f"/invoices/{portal.id_of('invoices', 'g-kwd')}/pdf").data)
    assert "KWD 12.345" in kwd and "Total KWD 12.345" in kwd and "Tax KWD 0.000" in kwd
    jpy = pdf_text(homer.get(f"/invoices/{portal.id_of('invoices', 'g-jpy')}/pdf").data)
    assert "JPY 5,000" in jpy and "Total JPY 5,400" in jpy and "JPY 5000.00" not in jpy


def test_arabic_text_comes_out_as_arabic_text() -> None:
    portal = make_portal(seed=_seed([_invoice("g-ar", "INV-AR", description="صيانة التكييف الشهرية")]))
    homer = portal.sign_in("globex", "homer@globex.example")
    text = pdf_text(homer.get(f"/invoices/{portal.id_of('invoices', 'g-ar')}/pdf").data)
    # Extracted as the words themselves (letters joined by shaping are still the same characters).
    for word in ("صيانة", "التكييف", "الشهرية"):
        assert word in text, (word, text)


@pytest.mark.parametrize("path", ["/invoices/{draft}/pdf", "/invoices/{void}/pdf", "/invoices/{other}/pdf",
                                  "/quotes/{draft_quote}/pdf", "/invoices/nonexistent/pdf",
                                  "/quotes/{other_invoice_as_quote}/pdf"])
def test_drafts_void_invoices_and_other_companies_documents_are_404(db_portal: WebPortal, db_homer: SignedIn,
                                                                    path: str) -> None:
    db_portal.seed(_seed([_invoice("globex-void", "INV-VOID", status="void")]))
    ids = {"draft": db_portal.id_of("invoices", "globex-i4"), "void": db_portal.id_of("invoices", "globex-void"),
           "other": db_portal.id_of("invoices", "initech-i1"), "draft_quote": db_portal.id_of("quotes", "globex-q4"),
           "other_invoice_as_quote": db_portal.id_of("invoices", "globex-i1")}
    before = _audit(db_portal, "globex")
    response = db_homer.get(path.format(**ids))
    assert response.status_code == 404 and not response.data.startswith(b"%PDF")
    assert [a for a in _audit(db_portal, "globex") if a[0] == "document_downloaded"] == \
           [a for a in before if a[0] == "document_downloaded"]


def test_documents_need_a_session(portal: WebPortal) -> None:
    token = portal.token("globex")
    invoice_id = portal.id_of("invoices", "globex-i1")
    for path in (f"/invoices/{invoice_id}/pdf", "/statement", "/statement/pdf"):
        response = portal.app.test_client().get(f"/p/{token}{path}")
        assert response.status_code == 303 and response.headers["Location"].endswith(f"/p/{token}/login")


def test_the_business_logo_is_fetched_into_the_pdf_and_a_missing_one_is_left_out(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/logo.png").respond_with_data(PNG, content_type="image/png")
    with_logo = make_portal(seed=_seed(business={"logo_url": httpserver.url_for("/logo.png")}))
    homer = with_logo.sign_in("globex", "homer@globex.example")
    data = homer.get(f"/invoices/{with_logo.id_of('invoices', 'globex-i1')}/pdf").data
    assert _images(data) == 1 and "Falcon Facilities" in pdf_text(data)

    httpserver.clear()  # the logo is gone now: the document still comes, without it
    httpserver.expect_request("/logo.png").respond_with_data("gone", status=404)
    data = homer.get(f"/invoices/{with_logo.id_of('invoices', 'globex-i1')}/pdf").data
    assert _images(data) == 0 and "Invoice INV-2001" in pdf_text(data)


def _images(data: bytes) -> int:
    return sum(len(page.images) for page in pypdf.PdfReader(io.BytesIO(data)).pages)


# ---- the statement of account


STATEMENT_INVOICES = [
    _invoice("s-not-due", "S-1", due=10, price="10.00"),
    _invoice("s-no-due", "S-2", due=None, price="20.00"),
    _invoice("s-5", "S-3", due=-5, price="30.00"),
    _invoice("s-30", "S-4", due=-30, price="40.00"),
    _invoice("s-31", "S-5", due=-31, price="50.00", paid="25.00", status="partially_paid"),
    _invoice("s-90", "S-6", due=-90, price="60.00"),
    _invoice("s-91", "S-7", due=-91, price="70.00", issued=-400),
    _invoice("s-usd", "S-8", currency="USD", due=-61, price="1234.50"),
    _invoice("s-paid", "S-9", due=-100, price="80.00", paid="80.00", status="paid"),
    _invoice("s-void", "S-10", due=-100, price="90.00", status="void"),
    _invoice("s-draft", "S-11", due=-100, price="99.00", status="draft"),
]


def _aging_rows(page: str, currency: str) -> dict[str, str]:
    section = page.split(f'id="statement-{currency}"', 1)[1].split("</section>", 1)[0]
    return dict(re.findall(r'<td data-label="([^"]+)" class="num">([^<]+)</td>', section.split("</table>", 1)[0]))


def test_the_statement_ages_every_open_invoice_by_currency(database_url: str) -> None:
    portal = make_portal(seed=_seed(STATEMENT_INVOICES), database_url=database_url)
    try:
        homer = portal.sign_in("globex", "homer@globex.example")
        page = homer.get("/statement")
        assert page.status_code == 200
        numbers = set(re.findall(r">(S-\d+|INV-\d+)</a>", page.text))
        # The demo's own open invoices (INV-2001 overdue 10 days, AED 378.00; INV-2002 due in 25 days, AED 545.00
        # left) are on it too; paid, void and draft invoices are not.
        assert numbers == {"S-1", "S-2", "S-3", "S-4", "S-5", "S-6", "S-7", "S-8", "INV-2001", "INV-2002"}
        assert _aging_rows(page.text, "AED") == {
            "not yet due": "AED 575.00",  # S-1 10 + S-2 20 (no due date) + INV-2002 545
            "1–30": "AED 448.00",  # S-3 30 + S-4 40 + INV-2001 378
            "31–60": "AED 25.00",  # S-5: 50 less 25 paid
            "61–90": "AED 60.00",  # S-6
            "over 90": "AED 70.00",  # S-7, issued more than a year ago
        }
        assert "AED: AED 1,178.00 outstanding" in page.text
        assert _aging_rows(page.text, "USD") == {"not yet due": "USD 0.00", "1–30": "USD 0.00", "31–60": "USD 0.00",
                                                 "61–90": "USD 1,234.50", "over 90": "USD 0.00"}
        pdf = homer.get("/statement/pdf")
        assert pdf.status_code == 200 and _attachment_name(pdf) == f"statement-{TODAY.isoformat()}.pdf"
        text = pdf_text(pdf.data)
        assert "Statement of account" in text and "Globex LLC" in text
        assert "AED: AED 1,178.00 outstanding" in text and "USD: USD 1,234.50 outstanding" in text
        assert "AED 575.00 AED 448.00 AED 25.00 AED 60.00 AED 70.00" in text
        assert all(f"S-{n} " in text for n in range(1, 9)) and "S-9 " not in text and "S-10" not in text
        assert ("document_downloaded", f"statement {TODAY.isoformat()}") in _audit(portal, "globex")
    finally:
        portal.services.close()


def test_the_statement_is_not_paged_and_shows_only_the_viewers_company() -> None:
    many = [_invoice(f"m-{n}", f"M-{n:03d}", due=-n, price="1.00") for n in range(1, 61)]
    portal = make_portal(seed=_seed(many))
    homer = portal.sign_in("globex", "homer@globex.example")
    page = homer.get("/statement").text
    assert len(set(re.findall(r">(M-\d{3})</a>", page))) == 60 and "Next page" not in page
    assert "INV-3001" not in page  # Initech's
    initech = portal.sign_in("initech", "peter@initech.example")
    other = initech.get("/statement").text
    assert "INV-3001" in other and "M-001" not in other and "KWD" in other


def test_the_invoices_section_and_home_link_to_the_statement(homer: SignedIn) -> None:
    link = f'href="/p/{homer.token}/statement"'
    assert link in homer.get("/invoices").text and link in homer.get("/").text


def test_a_paid_up_client_sees_an_empty_statement() -> None:
    seed = _seed()
    for company in seed["companies"]:
        for invoice in company.get("invoices", []):
            if invoice["status"] in ("sent", "partially_paid"):
                invoice["status"], invoice["amount_paid"] = "paid", "999999.00"
                invoice["lines"] = [{"description": "x", "quantity": "1", "unit_price": "999999.00"}]
                invoice["tax"] = "0.00"
    portal = make_portal(seed=seed)
    homer = portal.sign_in("globex", "homer@globex.example")
    assert "Nothing is outstanding" in homer.get("/statement").text
    assert "Nothing is outstanding" in pdf_text(homer.get("/statement/pdf").data)
