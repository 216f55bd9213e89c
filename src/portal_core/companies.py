"""Staff-side company management: finding companies, turning their portal on and off, their links, contacts and
audit trail. (What a client may see is the access policy, policy.py.)"""

from __future__ import annotations

import attrs

from portal_core.errors import InvalidInput, PortalUnavailable, UnknownCompany, UnknownContact
from portal_core.ids import new_id
from portal_core.languages import parse_language
from portal_core.model.audit import AuditEntry
from portal_core.model.company import LINK_TOKEN_BYTES, Company
from portal_core.model.contact import Contact, email_key, normalise_email
from portal_core.ports import Randomness, UnitOfWork


def find_company(uow: UnitOfWork, key: str) -> Company:
    """COMPANY on the command line: a seed ref, or else the exact company name."""
    company = uow.companies.get_by_ref(key) or uow.companies.get_by_name(key)
    if company is None:
        raise UnknownCompany(f"no company with ref or name {key!r}")
    return company


def get_company(uow: UnitOfWork, key: str) -> Company:
    """find_company in a transaction of its own, for a caller that only needs the company. Raises UnknownCompany."""
    with uow:
        return find_company(uow, key)


def list_companies(uow: UnitOfWork) -> list[Company]:
    """Every company, by name."""
    with uow:
        return uow.companies.list()


@attrs.frozen(kw_only=True)
class AuditLine:
    entry: AuditEntry
    who: str  # the contact's name while it is still a contact, else its id, else "-"


def audit_trail(uow: UnitOfWork, company_key: str, *, limit: int = 200) -> list[AuditLine]:
    """A company's audit log, newest first, with the names of its current contacts. Raises UnknownCompany."""
    with uow:
        company = find_company(uow, company_key)
        entries = uow.audit.list_for_company(company.id, limit=limit)
        names = {c.id: c.name for c in uow.contacts.list_for_company(company.id)}
    return [AuditLine(entry=e, who=names.get(e.contact_id or "", e.contact_id or "-")) for e in entries]


def portal_link(base_url: str, company: Company) -> str:
    return f"{base_url.rstrip('/')}/p/{company.link_token}"


def new_link_token(randomness: Randomness) -> str:
    return randomness.token(LINK_TOKEN_BYTES)


def set_portal_access(uow: UnitOfWork, company_key: str, *, enabled: bool) -> Company:
    with uow:
        company = find_company(uow, company_key)
        company.set_access(enabled)  # turning it off ends every session opened before, for good
        uow.companies.update(company)
        uow.commit()
    return company


def rotate_link(uow: UnitOfWork, *, randomness: Randomness, company_key: str) -> Company:
    """A new link token; the old link stops working at once (sessions opened under it end too)."""
    with uow:
        company = find_company(uow, company_key)
        company.link_token = new_link_token(randomness)
        uow.companies.update(company)
        uow.commit()
    return company


def add_contact(uow: UnitOfWork, *, randomness: Randomness, company_key: str, name: str, email: str,
                ref: str | None = None) -> Contact:
    with uow:
        company = find_company(uow, company_key)
        address = normalise_email(email)
        if uow.contacts.find(company.id, email_key(address)) is not None:
            raise InvalidInput(f"{company.name} already has a contact with that email")
        contact = Contact(id=new_id(randomness), company_id=company.id, name=name.strip(), email=address, ref=ref)
        uow.contacts.add(contact)
        uow.commit()
    return contact


def remove_contact(uow: UnitOfWork, company_key: str, email: str) -> Contact:
    with uow:
        company = find_company(uow, company_key)
        contact = uow.contacts.find(company.id, email_key(email))
        if contact is None:
            raise UnknownContact(f"{company.name} has no contact with that email")
        uow.contacts.remove(contact.id)
        uow.commit()
    return contact


def set_contact_language(uow: UnitOfWork, *, company_key: str | None = None, email: str | None = None,
                         contact_id: str | None = None, language: str) -> Contact:
    """Saves the contact's language (their mail and pages follow it). The contact is found by company and email
    (staff, the CLI) or by id (the contact themself, signed in). Raises InvalidInput (an unsupported language),
    UnknownCompany and UnknownContact."""
    chosen = parse_language(language)
    with uow:
        if contact_id is not None:
            contact = uow.contacts.get(contact_id)
        else:
            company = find_company(uow, company_key or "")
            contact = uow.contacts.find(company.id, email_key(email or ""))
        if contact is None:
            raise UnknownContact("no such contact")
        contact.language = chosen
        uow.contacts.update(contact)
        uow.commit()
    return contact


def change_contact_email(uow: UnitOfWork, contact_id: str, email: str) -> Contact:
    """Sessions proven for the old address end on their next request."""
    with uow:
        contact = uow.contacts.get(contact_id)
        if contact is None:
            raise UnknownContact("no such contact")
        address = normalise_email(email)
        other = uow.contacts.find(contact.company_id, email_key(address))
        if other is not None and other.id != contact.id:
            raise InvalidInput("another contact of this company already has that email")
        contact.email = address
        uow.contacts.update(contact)
        uow.commit()
    return contact


def open_portal(uow: UnitOfWork, link_token: str) -> Company:
    """The company behind a portal link, only while its portal access is enabled (else PortalUnavailable)."""
    company = uow.companies.get_by_link_token(link_token) if link_token else None
    if company is None or not company.portal_enabled:
        raise PortalUnavailable("this portal link is not active")
    return company
