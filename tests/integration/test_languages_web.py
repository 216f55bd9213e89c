"""Arabic and English on the web: which language a reader gets, the switcher, the saved choice, right-to-left pages,
and a catalog that translates every message the portal shows."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from adapters.pdf import WeasyPrintDocuments
from entrypoints.demo import demo_seed
from portal_core import companies, languages, printing, sending

from .test_documents_web import pdf_text
from .web_fixtures import TODAY, SignedIn, WebPortal, _csrf, homer, make_portal, portal

__all__ = ["homer", "portal"]  # fixtures imported for pytest, not unused

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "src" / "entrypoints" / "web"
CATALOG = WEB / "translations" / "ar" / "LC_MESSAGES" / "messages.po"


def _html_tag(page: str) -> str:
    found = re.search(r"<html[^>]*>", page)
    assert found, "no <html> tag"
    return found.group(0)


def _switcher(page: str) -> str:
    found = re.search(r'<form method="post" action="(/p/[^"]+/language)"[^>]*>(.*?)</form>', page, re.S)
    assert found, "no language switcher on the page"
    return found.group(0)


# ---- the catalog


def test_every_message_the_portal_shows_has_an_arabic_translation() -> None:
    keywords = {"_": None, "gettext": None, "_l": None, "lazy_gettext": None, "pgettext": ((1, "c"), 2),
                "lazy_pgettext": ((1, "c"), 2)}
    method_map = [("templates/**.html", "jinja2"), ("**.py", "python")]
    options = {"templates/**.html": {"extensions": "jinja2.ext.i18n", "newstyle_gettext": "true"}}
    extracted = {(m[4], m[2] if isinstance(m[2], str) else m[2][0])
                 for m in extract_from_dir(str(WEB), method_map, options, keywords=keywords)}
    assert len(extracted) > 150  # the extraction itself works: pages, errors, statuses
    assert ("status", "Paid") in extracted  # a status, apart from the amount paid
    with CATALOG.open("rb") as source:
        catalog = read_po(source, locale="ar")
    untranslated = sorted((c or "", m) for c, m in extracted
                          if not (catalog.get(m, context=c) and catalog.get(m, context=c).string))
    assert untranslated == [], f"messages without an Arabic translation: {untranslated}"
    assert catalog.get("Paid", context="status").string != catalog.get("Paid").string
    for message in catalog:  # the placeholders of each translation are those of its message
        if message.id and message.string:
            assert sorted(re.findall(r"%\(\w+\)s", message.id)) == sorted(re.findall(r"%\(\w+\)s", message.string)), \
                message.id


def test_the_build_compiled_the_catalog() -> None:
    compiled = CATALOG.with_suffix(".mo")
    assert compiled.exists(), "the package build (hatch_build.py) compiles messages.po into messages.mo"
    assert compiled.stat().st_mtime >= CATALOG.stat().st_mtime - 1, "messages.mo is older than messages.po: reinstall"


# ---- choosing the language


def test_the_browser_language_is_used_before_sign_in(portal: WebPortal) -> None:
    client = portal.app.test_client()
    token = portal.token("globex")
    arabic = client.get(f"/p/{token}/login", headers={"Accept-Language": "ar-AE,ar;q=0.9,en;q=0.5"})
    assert _html_tag(arabic.text) == '<html lang="ar" dir="rtl">'
    assert "تسجيل الدخول" in arabic.text and "Email me a code" not in arabic.text
    english = client.get(f"/p/{token}/login", headers={"Accept-Language": "fr,en;q=0.8"})
    assert _html_tag(english.text) == '<html lang="en" dir="ltr">' and "Email me a code" in english.text


def test_without_a_browser_preference_the_business_default_is_used() -> None:
    seed = copy.deepcopy(demo_seed(TODAY))
    seed["business"]["default_language"] = "ar"
    arabic_business = make_portal(seed=seed)
    page = arabic_business.app.test_client().get(f"/p/{arabic_business.token('globex')}/login")
    assert _html_tag(page.text) == '<html lang="ar" dir="rtl">'
    # The code's mail too (the sign-in request leaves the default to the use case, which reads the business).
    mail = _ask_code(arabic_business, "marge@globex.example", "")
    assert mail.subject.startswith("رمز تسجيل الدخول") and 'lang="ar" dir="rtl"' in mail.html


def test_the_switcher_keeps_the_choice_in_the_form_cookie_and_goes_back(portal: WebPortal) -> None:
    client = portal.app.test_client()
    token = portal.token("globex")
    login = client.get(f"/p/{token}/login", headers={"Accept-Language": "en"})
    form = _switcher(login.text)
    assert 'name="language" value="ar"' in form and 'name="csrf_token"' in form
    switched = client.post(f"/p/{token}/language", data={"language": "ar", "csrf_token": _csrf(login.text),
                                                          "next": f"/p/{token}/login"})
    assert switched.status_code == 303 and switched.headers["Location"] == f"/p/{token}/login"
    again = client.get(f"/p/{token}/login", headers={"Accept-Language": "en"})  # the choice wins over the browser
    assert _html_tag(again.text) == '<html lang="ar" dir="rtl">'
    assert 'name="language" value="en"' in _switcher(again.text)  # and offers English back


@pytest.mark.parametrize("next_path", ["https://evil.example/p/x", "//evil.example/p/x", "/elsewhere",
                                       "/p/another-token/login", "javascript:alert(1)"])
def test_the_switcher_only_goes_back_to_this_portal(portal: WebPortal, next_path: str) -> None:
    client = portal.app.test_client()
    token = portal.token("globex")
    login = client.get(f"/p/{token}/login")
    answer = client.post(f"/p/{token}/language", data={"language": "ar", "csrf_token": _csrf(login.text),
                                                        "next": next_path},
                         headers={"Referer": "https://evil.example/p/" + token})
    assert answer.status_code == 303 and answer.headers["Location"] == f"/p/{token}/"


def test_without_next_the_referer_path_is_used(portal: WebPortal) -> None:
    client = portal.app.test_client()
    token = portal.token("globex")
    login = client.get(f"/p/{token}/login")
    answer = client.post(f"/p/{token}/language", data={"language": "ar", "csrf_token": _csrf(login.text)},
                         headers={"Referer": f"http://localhost/p/{token}/login"})
    assert answer.headers["Location"] == f"/p/{token}/login"


@pytest.mark.parametrize("language", ["fr", "", "AR-XX", "english"])
def test_an_unsupported_language_is_a_400(portal: WebPortal, language: str) -> None:
    client = portal.app.test_client()
    token = portal.token("globex")
    login = client.get(f"/p/{token}/login")
    answer = client.post(f"/p/{token}/language", data={"language": language, "csrf_token": _csrf(login.text)})
    assert answer.status_code == 400 and "English or Arabic" in answer.text


def test_the_switcher_needs_the_csrf_token(portal: WebPortal) -> None:
    token = portal.token("globex")
    assert portal.app.test_client().post(f"/p/{token}/language", data={"language": "ar"}).status_code == 400


def test_a_signed_in_contacts_choice_is_saved_and_wins_over_the_browser(portal: WebPortal, homer: SignedIn) -> None:
    home = homer.get("/", headers={"Accept-Language": "en"})
    assert _html_tag(home.text) == '<html lang="en" dir="ltr">'
    answer = homer.client.post(f"/p/{homer.token}/language",
                               data={"language": "ar", "csrf_token": _csrf(home.text), "next": f"/p/{homer.token}/"})
    assert answer.status_code == 303
    with portal.services.uow() as uow:
        company = uow.companies.get_by_ref("globex")
        assert company is not None
        saved = {c.email: c.language for c in uow.contacts.list_for_company(company.id)}
    assert saved == {"homer@globex.example": "ar", "marge@globex.example": None}
    page = homer.get("/invoices", headers={"Accept-Language": "en"})
    assert _html_tag(page.text) == '<html lang="ar" dir="rtl">' and "<h1>الفواتير</h1>" in page.text
    assert "21 نوفمبر 2026" in page.text  # dates by Babel in the reader's language (INV-2001 is due 21 Nov)
    # Another browser of the same contact, signed in afresh, reads Arabic too: the choice is on the contact.
    again = portal.sign_in("globex", "homer@globex.example")
    assert _html_tag(again.get("/", headers={"Accept-Language": "en"}).text) == '<html lang="ar" dir="rtl">'


def test_arabic_pages_error_pages_included_are_right_to_left(portal: WebPortal, homer: SignedIn) -> None:
    for path in ("/", "/invoices", "/quotes", "/jobs", "/files", "/statement", "/requests/new", "/no-such-page"):
        page = homer.get(path, headers={"Accept-Language": "ar"})
        assert _html_tag(page.text) == '<html lang="ar" dir="rtl">', path
        assert 'value="en"' in _switcher(page.text), path
    missing = homer.get("/invoices/no-such-invoice", headers={"Accept-Language": "ar"})
    assert missing.status_code == 404 and "الصفحة غير موجودة" in missing.text


def test_business_data_is_shown_as_entered_and_amounts_in_the_locales_format(homer: SignedIn) -> None:
    page = homer.get("/invoices", headers={"Accept-Language": "ar"}).text
    assert "INV-2001" in page  # the business's invoice numbers as entered
    assert "378.00\xa0د.إ." in page and "AED 378.00" not in page  # Babel's Arabic pattern, the currency's decimals
    assert "AED 378.00" in homer.get("/invoices", headers={"Accept-Language": "en"}).text


def test_sizes_dates_and_request_statuses_are_in_the_readers_language(homer: SignedIn) -> None:
    files = homer.get("/files", headers={"Accept-Language": "ar"}).text
    sizes = re.findall(r'<td data-label="الحجم" class="num c-amount">([^<]+)</td>', files)
    assert sizes and all(re.fullmatch(r"[\d.,]+\s(بايت|كيلوبايت|م\.ب)", size) for size in sizes), sizes
    assert not re.search(r"\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4}", files)
    english = homer.get("/files", headers={"Accept-Language": "en"}).text
    assert re.search(r'class="num c-amount">\d+ bytes</td>', english), "an English size reads 52 bytes"
    requests = homer.get("/requests", headers={"Accept-Language": "ar"}).text
    statuses = re.findall(r'<span class="status">([^<]+)</span>', requests)
    assert statuses and not any(re.search(r"[A-Za-z]", status) for status in statuses), statuses


def test_each_amount_keeps_its_currencys_decimals_in_arabic() -> None:
    seed = copy.deepcopy(demo_seed(TODAY))
    for invoice, (currency, price) in zip(seed["companies"][0]["invoices"][:2], (("KWD", "12.345"), ("JPY", "5000")),
                                          strict=True):
        invoice.update(currency=currency, tax="0" if currency == "JPY" else "0.000",
                       amount_paid="0" if currency == "JPY" else "0.000",
                       lines=[{"description": "x", "quantity": "1", "unit_price": price}])
    portal = make_portal(seed=seed)
    page = portal.sign_in("globex", "homer@globex.example").get("/invoices", headers={"Accept-Language": "ar"}).text
    assert "12.345\xa0د.ك." in page and "5,000\xa0JP¥" in page


def test_the_stylesheet_mirrors_by_logical_properties() -> None:
    css = (WEB / "static" / "portal.css").read_text()
    assert not re.search(r"(?<![-\w])(left|right)\s*:", css), "physical left/right: use inset-inline-*"
    assert not re.search(r"(margin|padding|border)-(left|right)\b", css), "use the -inline-start/-end properties"
    assert not re.search(r"text-align:\s*(left|right)", css), "use text-align: start/end"


def test_the_languages_are_chosen_in_order() -> None:
    assert languages.choose("ar", ["en"], "en") == "ar"  # saved first
    assert languages.choose(None, ["fr-FR", "ar-SA", "en"], "en") == "ar"  # then the browser, among ours
    assert languages.choose(None, ["fr"], "ar") == "ar"  # then the business's default
    assert languages.choose(None, [], "xx") == "en"
    # What the reader chose or prefers, before any default: nothing when only the business's default would decide.
    assert languages.chosen(None, ["fr", "de-DE"]) is None and languages.chosen("xx", []) is None
    assert languages.chosen(None, ["fr", "ar-SA"]) == "ar" and languages.chosen("en", ["ar"]) == "en"


def _ask_code(portal: WebPortal, email: str, accept_language: str) -> str:
    client = portal.app.test_client()
    token = portal.token("globex")
    login = client.get(f"/p/{token}/login", headers={"Accept-Language": accept_language})
    sent = client.post(f"/p/{token}/login", data={"email": email, "csrf_token": _csrf(login.text)},
                       headers={"Accept-Language": accept_language})
    assert sent.status_code == 303
    portal.clock.advance(minutes=2)
    return portal.sender.to(email)[-1]


def test_the_code_mail_is_in_the_pages_language_unless_the_contact_chose_one(portal: WebPortal) -> None:
    arabic = _ask_code(portal, "marge@globex.example", "ar")
    assert arabic.subject == "رمز تسجيل الدخول إلى Falcon Facilities"
    assert "مرحبًا Marge Simpson" in arabic.text and "Hello" not in arabic.text
    assert 'lang="ar" dir="rtl"' in arabic.html
    code = re.search(r"(?<!\d)(\d{6})(?!\d)", arabic.text)
    assert code is not None and code.group(1).isascii()  # the code is always in ASCII digits
    assert code.group(1) in arabic.html
    english = _ask_code(portal, "marge@globex.example", "en")
    assert english.subject.startswith("Your sign-in code") and "Hello Marge Simpson" in english.text
    companies.set_contact_language(portal.services.uow(), company_key="globex", email="marge@globex.example",
                                language="ar")
    saved = _ask_code(portal, "marge@globex.example", "en")  # the saved choice wins over the page's language
    assert saved.subject.startswith("رمز تسجيل الدخول")


def test_document_notices_follow_each_contacts_language_and_staff_notices_the_business_default(
        portal: WebPortal, homer: SignedIn) -> None:
    companies.set_contact_language(portal.services.uow(), company_key="globex", email="marge@globex.example",
                                language="ar")
    s = portal.services
    sending.send_invoice(s.uow(), sender=s.email_sender, templates=s.templates, clock=s.clock,
                         randomness=s.randomness, base_url="https://portal.example", ref="globex-i4")
    marge, homer_mail = portal.sender.to("marge@globex.example")[-1], portal.sender.to("homer@globex.example")[-1]
    assert marge.subject.startswith("الفاتورة INV-2003") and "Hello" not in marge.text
    assert homer_mail.subject.startswith("Invoice INV-2003") and not re.search(r"[\u0600-\u06FF]", homer_mail.text)
    # A request from a contact reading Arabic reaches the business in its own default language (English here).
    page = homer.get("/requests/new", headers={"Accept-Language": "ar"})
    form_token = re.search(r'name="form_token" value="([^"]+)"', page.text)
    assert form_token is not None
    sent = homer.client.post(f"/p/{homer.token}/requests/new", data={
        "title": "تسرب", "details": "ماء على الأرض", "csrf_token": _csrf(page.text), "form_token": form_token.group(1)})
    assert sent.status_code == 303
    staff = portal.sender.to("office@falcon.example")[-1]
    assert staff.subject.startswith("New portal request from Globex LLC")


def test_pdfs_are_in_the_readers_language_arabic_right_to_left(portal: WebPortal, homer: SignedIn) -> None:
    invoice_id = portal.id_of("invoices", "globex-i1")
    arabic = pdf_text(homer.get(f"/invoices/{invoice_id}/pdf", headers={"Accept-Language": "ar"}).data)
    for words in ("فاتورة", "تاريخ", "الإصدار", "المستحق", "نوفمبر"):
        assert words in arabic, (words, arabic)
    assert "INV-2001" in arabic and "Due date" not in arabic
    english = pdf_text(homer.get(f"/invoices/{invoice_id}/pdf", headers={"Accept-Language": "en"}).data)
    assert "Due date" in english and "فاتورة" not in english
    statement = pdf_text(homer.get("/statement/pdf", headers={"Accept-Language": "ar"}).data)
    assert "كشف" in statement and "الحساب" in statement and "مستحقة" in statement
    with portal.services.uow() as uow:
        business = uow.business.get()
    assert business is not None
    layout = WeasyPrintDocuments().html(printing.build_statement(business, "Globex LLC", [], TODAY, language="ar"))
    assert '<html lang="ar" dir="rtl">' in layout  # laid out right to left by WeasyPrint's bidi


def test_a_notice_carries_the_pdf_in_each_contacts_language(portal: WebPortal) -> None:
    companies.set_contact_language(portal.services.uow(), company_key="globex", email="marge@globex.example",
                                language="ar")
    s = portal.services
    sending.send_invoice(s.uow(), sender=s.email_sender, templates=s.templates, clock=s.clock,
                         randomness=s.randomness, base_url="https://portal.example", ref="globex-i4",
                         documents=s.documents)
    marge = portal.sender.to("marge@globex.example")[-1]
    homer_mail = portal.sender.to("homer@globex.example")[-1]
    assert "فاتورة" in pdf_text(marge.attachments[0].content)
    assert "Invoice INV-2003" in pdf_text(homer_mail.attachments[0].content)


@pytest.mark.parametrize("language", ["en", "ar"])
def test_a_messages_variables_are_escaped_and_the_message_itself_is_markup(portal: WebPortal, language: str) -> None:
    # `_()` in the web templates is a plain function bound per rendering (i18n._bound_gettext), not Jinja's context
    # function: a name a client typed is still escaped inside a translated message, in every language.
    template = ('{{ _("Welcome, %(name)s", name=name) }}|{{ _("Home") }}|'
                '{{ ngettext("%(num)s file", "%(num)s files", 2) }}')
    with portal.app.test_request_context("/", headers={"Accept-Language": language}):
        from flask import render_template_string
        text = render_template_string(template, name='<script>alert("x")</script> & co')
    assert "<script>" not in text and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; co" in text
    welcome, home, files = text.split("|")
    assert (welcome.startswith("Welcome") and home == "Home") if language == "en" else "Welcome" not in welcome
    assert "2" in files
