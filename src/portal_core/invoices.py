"""Staff operations on an invoice that tell nobody: voiding it. (Sending one, which tells every contact, is
sending.py; crediting a payment to one is the ledger's, payments.py.)"""

from __future__ import annotations

import attrs

from portal_core import records
from portal_core.model.documents import Invoice
from portal_core.model.payment import PaymentStatus
from portal_core.ports import Clock, Randomness, UnitOfWork
from portal_core.sending import company_of, invoice_for_update


@attrs.frozen(kw_only=True)
class VoidOutcome:
    invoice: Invoice
    company_name: str
    changed: bool  # False when it was void already
    open_attempts: int = 0  # Pay Now attempts still open at a provider: refused for review if they complete


def void_invoice(uow: UnitOfWork, *, clock: Clock, randomness: Randomness, ref: str) -> VoidOutcome:
    """The invoice leaves the client's lists and can no longer be paid; voiding it again changes nothing.

    An invoice with payments recorded (partially paid or paid) is refused: InvalidTransition. Pay Now attempts
    still open are not cancelled at the provider; if one completes, the ledger records it for review and does not
    apply it. No email is sent. Raises UnknownRecord and InvalidTransition.
    """
    with uow:
        invoice = invoice_for_update(uow, ref)
        company = company_of(uow, invoice.company_id)
        if not invoice.void():
            return VoidOutcome(invoice=invoice, company_name=company.name, changed=False)
        uow.invoices.update(invoice)
        attempts = sum(1 for p in uow.payments.list_for_invoice(invoice.id) if p.status == PaymentStatus.PENDING)
        records.audit(uow, randomness=randomness, clock=clock, action="invoice_voided", company_id=company.id,
                      detail=f"invoice {invoice.number}")
        uow.commit()
    return VoidOutcome(invoice=invoice, company_name=company.name, changed=True, open_attempts=attempts)
