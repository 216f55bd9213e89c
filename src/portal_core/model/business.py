"""The business that operates the portal: it feeds About Us, Contact and the branding."""

from __future__ import annotations

import re

import attrs

from portal_core.errors import InvalidInput
from portal_core.languages import DEFAULT as DEFAULT_LANGUAGE
from portal_core.languages import parse_language
from portal_core.model.contact import normalise_email

_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
DEFAULT_BRAND_COLOR = "#1f4e79"


def _colour(value: str | None) -> str:
    if value is None or value == "":
        return DEFAULT_BRAND_COLOR
    if not _COLOUR.match(value):
        raise InvalidInput(f"brand colour {value!r} must look like #0b6e4f")
    return value.lower()


@attrs.define(kw_only=True)
class Business:
    name: str = attrs.field()
    email: str = attrs.field(converter=normalise_email)
    about: str = ""
    phone: str = ""
    address: str = ""
    website: str = ""
    brand_color: str = attrs.field(default=DEFAULT_BRAND_COLOR, converter=_colour)
    logo_url: str = ""
    default_language: str = attrs.field(default=DEFAULT_LANGUAGE, converter=parse_language)

    @name.validator
    def _name(self, _attribute: object, value: str) -> None:
        if not value.strip():
            raise InvalidInput("the business needs a name")
