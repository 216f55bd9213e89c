"""Renders the core's documents (invoice, quote, statement of account) as PDFs with WeasyPrint, from Jinja templates.

WeasyPrint lays HTML and CSS out with Pango and HarfBuzz, so text is real text (selectable, extractable) and
right-to-left scripts are shaped and ordered properly. The business's logo is fetched from its `logo_url` (http,
https or a data: URL only, within a few seconds); a logo that cannot be fetched is left out, never a failed document.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

import jinja2

from portal_core.model.money import Money, quantity_text
from portal_core.model.printable import Document, InvoiceDocument, QuoteDocument, Statement

_TEMPLATES = Path(__file__).parent / "templates"
_NAMES: dict[type, str] = {InvoiceDocument: "invoice.html", QuoteDocument: "quote.html", Statement: "statement.html"}
LOGO_TIMEOUT_SECONDS = 5

# WeasyPrint reports every CSS property it does not support and every resource it could not fetch at WARNING;
# a missing logo is expected and not worth a line per document.
logging.getLogger("weasyprint").setLevel(logging.ERROR)


def format_money(value: Money) -> str:
    """KWD 12.345, JPY 5,000, USD 1,234.50: the currency's own decimals, thousands grouped."""
    return value.grouped_text()


def format_date(value: dt.date | None) -> str:
    return "—" if value is None else f"{value.day} {value:%b %Y}"


def format_label(value: object) -> str:
    text = str(getattr(value, "value", value)).replace("_", " ")
    return text[:1].upper() + text[1:]


# The documents' own words, per language (business data is printed as entered). A language without an entry here
# is printed in English.
LABELS: dict[str, dict[str, str]] = {
    "ar": {
        "Invoice": "فاتورة", "Quote": "عرض سعر", "For": "إلى", "Issued": "تاريخ الإصدار",
        "Due date": "تاريخ الاستحقاق", "Valid until": "صالح حتى", "Status": "الحالة", "Currency": "العملة",
        "Description": "الوصف", "Quantity": "الكمية", "Unit price": "سعر الوحدة", "Amount": "المبلغ",
        "No lines.": "لا توجد بنود.", "Tax": "الضريبة", "Total": "الإجمالي", "Paid": "المدفوع",
        "Outstanding": "المستحق", "Statement of account": "كشف الحساب", "as of": "حتى تاريخ",
        "outstanding": "مستحق", "Days overdue": "أيام التأخير", "Nothing is outstanding.": "لا توجد مبالغ مستحقة.",
        "not yet due": "غير مستحقة بعد", "over 90": "أكثر من 90",
    },
}
# A record's status, apart from the labels: an invoice that is "Paid" is not the amount "Paid".
STATUSES: dict[str, dict[str, str]] = {
    "ar": {"Draft": "مسودة", "Sent": "مرسلة", "Partially paid": "مدفوعة جزئيًا", "Paid": "مدفوعة", "Void": "ملغاة",
           "Accepted": "مقبول", "Declined": "مرفوض", "Expired": "منتهٍ"},
}
_MONTHS_AR = ("يناير", "فبراير", "مارس", "أبريل", "مايو", "يونيو", "يوليو", "أغسطس", "سبتمبر", "أكتوبر", "نوفمبر",
              "ديسمبر")


class WeasyPrintDocuments:
    """The DocumentRenderer port."""

    def __init__(self, folder: Path = _TEMPLATES, *, logo_timeout: float = LOGO_TIMEOUT_SECONDS) -> None:
        self._env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(folder)), autoescape=True,
                                       undefined=jinja2.StrictUndefined)
        self._env.filters.update(money=format_money, date=format_date, quantity=quantity_text,
                                 label=format_label)
        self._logo_timeout = logo_timeout

    def html(self, document: Document) -> str:
        language = document.language
        labels = LABELS.get(language, {})

        def t(text: str) -> str:
            return labels.get(text, text)

        def status(value: object) -> str:
            label = format_label(value)
            return STATUSES.get(language, {}).get(label, label)

        def day(value: dt.date | None) -> str:
            if value is not None and language == "ar":
                return f"{value.day} {_MONTHS_AR[value.month - 1]} {value.year}"
            return format_date(value)

        context: dict[str, Any] = {"document": document, "business": document.business, "t": t,
                                   "lang": language, "dir": "rtl" if language == "ar" else "ltr"}
        env = self._env.overlay()
        env.filters.update(date=day, label=status)
        return env.get_template(_NAMES[type(document)]).render(context)

    def render(self, document: Document) -> bytes:
        # Imported on first use: WeasyPrint takes about a second and 40 MB to load, which a worker that never
        # prints a document should not pay.
        import weasyprint
        from weasyprint.urls import URLFetcher

        fetcher = URLFetcher(timeout=self._logo_timeout, allowed_protocols={"http", "https", "data"})
        pdf = weasyprint.HTML(string=self.html(document), url_fetcher=fetcher).write_pdf()
        assert pdf is not None  # write_pdf without a target returns the bytes
        return bytes(pdf)
