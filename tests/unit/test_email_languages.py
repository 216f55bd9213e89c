"""Every notice renders in Arabic, right to left, in one language only; English stays the default."""

from __future__ import annotations

import datetime as dt
import re

import attrs
import pytest

from adapters.jinja import JinjaEmailTemplates
from portal_core.model.business import Business
from portal_core.model.mail import (
    DocumentKind,
    DocumentNotice,
    NewRequestNotice,
    Notice,
    OverdueLine,
    OverdueReminder,
    PaymentReceiptNotice,
    SignInCodeNotice,
)
from portal_core.model.money import Money

BUSINESS = Business(name="Falcon Facilities", email="office@falcon.example", phone="+971 4 000 0000")
AED = Money(37800, "AED")
LINK = "https://portal.example/p/token/login"
NOTICES: list[Notice] = [
    SignInCodeNotice(business=BUSINESS, company_name="Globex LLC", contact_name="Homer", code="123456",
                     valid_minutes=10),
    DocumentNotice(business=BUSINESS, company_name="Globex LLC", contact_name="Homer", kind=DocumentKind.INVOICE,
                   number="INV-2001", total=AED, outstanding=AED, issued_date=dt.date(2026, 11, 1),
                   due_date=dt.date(2026, 12, 1), valid_until=None, portal_link=LINK),
    DocumentNotice(business=BUSINESS, company_name="Globex LLC", contact_name="Homer", kind=DocumentKind.QUOTE,
                   number="Q-1001", total=AED, outstanding=None, issued_date=dt.date(2026, 11, 1), due_date=None,
                   valid_until=dt.date(2026, 12, 20), portal_link=None, reminder=True),
    OverdueReminder(business=BUSINESS, company_name="Globex LLC", contact_name="Homer", portal_link=LINK,
                    invoices=(OverdueLine(number="INV-2001", due_date=dt.date(2026, 11, 21), days_overdue=10,
                                          total=AED, outstanding=AED),)),
    PaymentReceiptNotice(business=BUSINESS, company_name="Globex LLC", contact_name="Homer", invoice_number="INV-2001",
                         amount=AED, outstanding=Money(0, "AED"),
                         paid_at=dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.UTC),
                         provider="Stripe", payment_id="pay123"),
    NewRequestNotice(business=BUSINESS, request_id="req1", company_name="Globex LLC", contact_name="Homer",
                     contact_email="homer@globex.example", title="AC leaking", details="Water on the floor."),
]
ENGLISH_WORDS = re.compile(r"\b(Hello|Thank you|Reminder|invoice|Invoice|received|Outstanding|Total|sent)\b")


@pytest.mark.parametrize("notice", NOTICES, ids=lambda n: type(n).__name__)
def test_each_notice_has_an_arabic_version_in_one_language(notice: Notice) -> None:
    templates = JinjaEmailTemplates()
    arabic = templates.render(attrs.evolve(notice, language="ar"), to="homer@globex.example")  # type: ignore[misc]
    english = templates.render(notice, to="homer@globex.example")
    assert re.search(r"[\u0600-\u06FF]", arabic.subject) and re.search(r"[\u0600-\u06FF]", arabic.text)
    names = r"INV-\d+|Falcon Facilities|Globex LLC|Stripe|AC leaking|Water on the floor\.|portal request status"
    assert not ENGLISH_WORDS.search(re.sub(names, "", arabic.text)), arabic.text
    assert 'lang="ar" dir="rtl"' in arabic.html and 'lang="en" dir="ltr"' in english.html
    assert not re.search(r"[\u0600-\u06FF]", english.text + english.subject)
    assert arabic.reply_to == english.reply_to


def test_the_arabic_code_mail_writes_the_code_in_ascii_digits() -> None:
    email = JinjaEmailTemplates().render(attrs.evolve(NOTICES[0], language="ar"), to="homer@globex.example")
    assert "123456" in email.text and "123456" in email.html and not re.search(r"[\u0660-\u0669]", email.text)
