"""The business's details as the portal shows them: About Us, Contact, and the brand colour."""

from __future__ import annotations

from portal_core.model.business import DEFAULT_BRAND_COLOR, Business
from portal_core.ports import UnitOfWork


def business_profile(uow: UnitOfWork) -> Business | None:
    """None until the business is set up (a fresh database)."""
    with uow:
        return uow.business.get()


def brand_color(uow: UnitOfWork) -> str:
    business = business_profile(uow)
    return business.brand_color if business else DEFAULT_BRAND_COLOR
