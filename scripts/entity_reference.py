"""Writes docs/entities.md, the reference of the entities an embedder maps its CRM's rows to, from the attrs classes
themselves (fields, types, what is required, defaults); a test fails when the file is out of date.

    python scripts/entity_reference.py            # rewrite docs/entities.md
    python scripts/entity_reference.py --check    # exit 1 if it is out of date
"""

from __future__ import annotations

import sys
from pathlib import Path

import attrs

from portal_core.model.business import Business
from portal_core.model.company import Company
from portal_core.model.contact import Contact
from portal_core.model.documents import ClientRequest, Invoice, Job, Line, Product, Project, Quote, Task
from portal_core.model.files import File
from portal_core.model.money import Money

OUT = Path(__file__).resolve().parents[1] / "docs" / "entities.md"

# What the constructors refuse (InvalidInput and its kinds), said once per class: the field tables are generated.
RULES = {
    Business: "`name` and `email` are required; `brand_color` is `#rrggbb` or empty; `default_language` is `en` or "
              "`ar`.",
    Company: "`name` is not blank; `link_token` carries at least 128 bits (22 or more url-safe characters) and is "
             "unique; `access_generation` only grows (sessions remember it: a session from an older generation is "
             "dead).",
    Contact: "`email` is a valid address (kept as typed, compared case-folded: `email_key`); `name` is not blank; "
             "one email may be a contact of two companies.",
    Line: "`quantity` is a `Decimal`; the line's amount is quantity × unit price, rounded half-up to the currency.",
    Invoice: "every amount is in the invoice's `currency`; `tax` and `amount_paid` are not below zero; `due_date` is "
             "not before `issued_date`; `lines` may be empty, but a CRM that keeps only a total makes one line of "
             "it (`Line(\"Invoice INV-1\", Decimal(1), Money(total, currency))`) and `tax=Money.zero(currency)`.",
    Quote: "every line is in the quote's `currency`; a quote has no tax.",
    Job: "`project_id`, when set, is a project of the same company.",
    Project: "—",
    Task: "`job_id`, when set, is a job of the same company.",
    File: "attached to exactly one of `job_id` and `invoice_id`, of the same company; `name` is not blank; the "
          "contents are read through `FileStorage.open(content_hash)`.",
    Product: "`unit_price` carries its currency.",
    ClientRequest: "written by the portal (its own table): an embedder does not map it.",
    Money: "`minor` is an `int` of minor units (fils, cents, yen) within ±(2**63 − 1); `currency` is an ISO 4217 "
           "code the portal knows (its exponent: JPY 0, AED 2, KWD 3); read text with `Money.parse(\"12.345\", "
           "\"KWD\")`, never through a float.",
}


def _default(field: attrs.Attribute) -> str:  # type: ignore[type-arg]
    if field.default is attrs.NOTHING:
        return "**required**"
    if isinstance(field.default, attrs.Factory):  # type: ignore[arg-type]
        return "empty"
    return f"`{field.default!r}`"


def render() -> str:
    out = ["# Entity reference", "",
           "The domain objects a repository returns, generated from the attrs classes by "
           "`scripts/entity_reference.py` (a test keeps it current). Import them from `portal_core.model.<module>`; "
           "every constructor takes keywords and raises `portal_core.errors.InvalidInput` for what it refuses.", ""]
    for cls, rule in RULES.items():
        out += [f"## `{cls.__name__}` (`{cls.__module__}`)", ""]
        doc = (cls.__doc__ or "").strip().splitlines()
        if doc and not doc[0].startswith(cls.__name__ + "("):
            out += [doc[0], ""]
        out += ["| field | type | default |", "| --- | --- | --- |"]
        # The annotations as written (strings, with `from __future__ import annotations`): field.type becomes the
        # resolved type once cattrs has resolved it, which would make the text depend on what ran before.
        annotations = {name: str(text) for klass in reversed(cls.__mro__)
                       for name, text in vars(klass).get("__annotations__", {}).items()}
        for field in attrs.fields(cls):
            type_text = annotations[field.name]
            type_text = type_text.replace("|", "\\|")  # a union's bar would end the table's cell
            out.append(f"| `{field.name}` | `{type_text}` | {_default(field)} |")
        out += ["", f"Rules: {rule}", ""]
    return "\n".join(out)


if __name__ == "__main__":
    text = render()
    if "--check" in sys.argv:
        sys.exit(0 if OUT.exists() and OUT.read_text() == text else 1)
    OUT.write_text(text)
