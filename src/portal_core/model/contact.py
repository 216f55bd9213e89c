"""Contacts: the people of a client company who may sign in to its portal."""

from __future__ import annotations

import re

import attrs

from portal_core.errors import InvalidEmail, InvalidInput
from portal_core.languages import optional_language

# Deliberately simple: one @, no spaces or control characters, a dot in the domain. Whether a mailbox exists is the
# mail relay's business.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_EMAIL = re.compile(r"^[^@\s\x00-\x1f\x7f<>(),;:\"\[\]]+@" + _LABEL + r"(?:\." + _LABEL + r")+$")


def normalise_email(value: str) -> str:
    """Trims and validates; keeps the case the person typed (comparisons use email_key)."""
    if not isinstance(value, str):
        raise InvalidEmail(f"email must be text, not {value!r}")
    email = value.strip()
    if len(email) > 254 or not _EMAIL.match(email):
        raise InvalidEmail(f"{email!r} is not a valid email address")
    return email


def email_key(value: str) -> str:
    """The form under which emails are compared: trimmed and case-folded."""
    return value.strip().lower()


@attrs.define(kw_only=True)
class Contact:
    id: str
    company_id: str
    name: str = attrs.field()
    email: str = attrs.field(converter=normalise_email)
    ref: str | None = None
    language: str | None = attrs.field(default=None, converter=optional_language)  # None: not chosen yet

    @name.validator
    def _name(self, _attribute: object, value: str) -> None:
        if not value.strip():
            raise InvalidInput("a contact needs a name")

    @property
    def email_key(self) -> str:
        return email_key(self.email)
