"""The seed format (docs/seed-format.md) as attrs classes: the JSON a CRM exports, structured strictly (no extra
keys, no number where a string is due), every problem reported with its path ($.companies[0].name)."""

from __future__ import annotations

import attrs
import cattrs

from portal_core.errors import (
    InvalidSeed,
)


@attrs.frozen(kw_only=True)
class SeedBusiness:
    name: str
    email: str
    about: str = ""
    phone: str = ""
    address: str = ""
    website: str = ""
    brand_color: str | None = None
    logo_url: str = ""
    default_language: str = "en"


@attrs.frozen(kw_only=True)
class SeedProduct:
    ref: str
    name: str
    unit_price: str
    currency: str
    description: str = ""


@attrs.frozen(kw_only=True)
class SeedContact:
    ref: str
    name: str
    email: str
    language: str | None = None  # None: keep what the contact chose in the portal


@attrs.frozen(kw_only=True)
class SeedProject:
    ref: str
    name: str
    status: str = "active"


@attrs.frozen(kw_only=True)
class SeedJob:
    ref: str
    title: str
    status: str
    project: str | None = None
    scheduled_start: str | None = None
    scheduled_end: str | None = None


@attrs.frozen(kw_only=True)
class SeedTask:
    ref: str
    title: str
    status: str = "open"
    job: str | None = None
    due_date: str | None = None


@attrs.frozen(kw_only=True)
class SeedLine:
    description: str
    quantity: str
    unit_price: str


@attrs.frozen(kw_only=True)
class SeedQuote:
    ref: str
    number: str
    status: str
    currency: str
    issued_date: str | None = None
    valid_until: str | None = None
    lines: list[SeedLine] = attrs.Factory(list)


@attrs.frozen(kw_only=True)
class SeedInvoice:
    ref: str
    number: str
    status: str
    currency: str
    issued_date: str | None = None
    due_date: str | None = None
    job: str | None = None
    tax: str = "0"
    amount_paid: str = "0"
    lines: list[SeedLine] = attrs.Factory(list)


@attrs.frozen(kw_only=True)
class SeedRequest:
    ref: str
    title: str
    details: str = ""
    status: str = "new"
    submitted_by: str | None = None


@attrs.frozen(kw_only=True)
class SeedAttachment:
    job: str | None = None
    invoice: str | None = None


@attrs.frozen(kw_only=True)
class SeedFile:
    ref: str
    name: str
    content_type: str
    content_base64: str
    attached_to: SeedAttachment


@attrs.frozen(kw_only=True)
class SeedCompany:
    ref: str
    name: str
    portal_enabled: bool = False
    contacts: list[SeedContact] = attrs.Factory(list)
    projects: list[SeedProject] = attrs.Factory(list)
    jobs: list[SeedJob] = attrs.Factory(list)
    tasks: list[SeedTask] = attrs.Factory(list)
    quotes: list[SeedQuote] = attrs.Factory(list)
    invoices: list[SeedInvoice] = attrs.Factory(list)
    requests: list[SeedRequest] = attrs.Factory(list)
    files: list[SeedFile] = attrs.Factory(list)


@attrs.frozen(kw_only=True)
class Seed:
    business: SeedBusiness | None = None
    products: list[SeedProduct] = attrs.Factory(list)
    companies: list[SeedCompany] = attrs.Factory(list)


_converter = cattrs.Converter(forbid_extra_keys=True)


def _strict_str(value: object, _type: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _strict_bool(value: object, _type: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, got {value!r}")
    return value


_converter.register_structure_hook(str, _strict_str)
_converter.register_structure_hook(bool, _strict_bool)


def parse_seed(document: object) -> Seed:
    """Structures a decoded JSON document; every problem is reported with its path, e.g. $.companies[0].name."""
    if not isinstance(document, dict):
        raise InvalidSeed("the seed must be a JSON object with business, products and companies")
    try:
        return _converter.structure(document, Seed)
    except cattrs.BaseValidationError as exc:
        messages = cattrs.transform_error(exc, path="$")
        raise InvalidSeed("; ".join(messages[:3])) from None


def parse_company_records(company_ref: str, document: object) -> SeedCompany:
    """A company's records given by kind, without the company's own fields (`{"invoices": [...]}`), as a seed
    company with that ref; paths in errors start at that document ($.invoices[0].number). Raises InvalidSeed."""
    if not isinstance(document, dict) or {"ref", "name", "portal_enabled"} & document.keys():
        raise InvalidSeed("$: give the company's records by kind, such as {\"invoices\": [...]}")
    try:
        return _converter.structure({"ref": company_ref, "name": "", **document}, SeedCompany)
    except cattrs.BaseValidationError as exc:
        raise InvalidSeed("; ".join(cattrs.transform_error(exc, path="$")[:3])) from None
