"""What the model refuses, drawn from portal_core.testing.strategies: no such record can be built, so none is stored."""

from __future__ import annotations

import pytest
from hypothesis import given

from portal_core.errors import InvalidAmount, InvalidInput
from portal_core.model.documents import Invoice, InvoiceStatus
from portal_core.model.money import Money
from portal_core.testing.strategies import refused_amounts, refused_invoices


@given(fields=refused_invoices())
def test_an_invoice_with_a_refused_value_cannot_be_built(fields: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        Invoice(**fields)  # type: ignore[arg-type]


@given(minor=refused_amounts)
def test_a_negative_tax_or_amount_paid_is_refused_and_zero_is_not(minor: int) -> None:
    fields = {"id": "i", "company_id": "c", "number": "INV-1", "status": InvoiceStatus.SENT, "currency": "KWD",
              "issued_date": None, "due_date": None, "tax": Money(0, "KWD"), "amount_paid": Money(0, "KWD")}
    assert Invoice(**fields).total == Money(0, "KWD")  # type: ignore[arg-type]
    for field in ("tax", "amount_paid"):
        with pytest.raises(InvalidAmount, match="below zero"):
            Invoice(**{**fields, field: Money(minor, "KWD")})  # type: ignore[arg-type]
