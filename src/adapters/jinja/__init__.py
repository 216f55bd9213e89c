"""Renders the core's notices into branded multipart emails from Jinja templates (templates/email/)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import jinja2

from portal_core.model.mail import (
    DocumentNotice,
    Email,
    NewRequestNotice,
    Notice,
    OverdueReminder,
    PaymentReceiptNotice,
    SignInCodeNotice,
)

_TEMPLATES = Path(__file__).parent / "templates" / "email"
# Each notice type has three templates: NAME.subject.txt, NAME.txt and NAME.html.
_NAMES: dict[type, str] = {SignInCodeNotice: "sign_in_code", NewRequestNotice: "new_request",
                           PaymentReceiptNotice: "payment_receipt", DocumentNotice: "document_notice",
                           OverdueReminder: "overdue_reminder"}


class JinjaEmailTemplates:
    def __init__(self, names: dict[type, str] | None = None, folder: Path = _TEMPLATES) -> None:
        self._names = {**_NAMES, **(names or {})}
        loader = jinja2.FileSystemLoader(str(folder))
        self._text = jinja2.Environment(loader=loader, autoescape=False, undefined=jinja2.StrictUndefined,
                                        keep_trailing_newline=True)
        self._html = jinja2.Environment(loader=loader, autoescape=True, undefined=jinja2.StrictUndefined)
        self._names_available = frozenset(loader.list_templates())

    def _name(self, notice: Notice) -> str:
        """The notice's templates in its language when they exist (templates/email/<language>/), else English."""
        name = self._names[type(notice)]
        language = getattr(notice, "language", "en")
        if language != "en" and f"{language}/{name}.subject.txt" in self._names_available:
            return f"{language}/{name}"
        return name

    def render(self, notice: Notice, to: str) -> Email:
        name = self._name(notice)
        context: dict[str, Any] = {field.name: getattr(notice, field.name) for field in attrs.fields(type(notice))}
        subject = self._text.get_template(f"{name}.subject.txt").render(context).strip()
        return Email(to=to, subject=" ".join(subject.split()),
                     text=self._text.get_template(f"{name}.txt").render(context),
                     html=self._html.get_template(f"{name}.html").render(context),
                     reply_to=self._reply_to(notice))

    @staticmethod
    def _reply_to(notice: Notice) -> str:
        # A client hears back from the business; the business answers a request straight to the contact.
        return notice.contact_email if isinstance(notice, NewRequestNotice) else notice.business.email
