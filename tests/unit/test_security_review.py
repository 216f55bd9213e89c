"""Findings of the security review in the core: each test failed before its fix."""

from __future__ import annotations

import pytest

from portal_core.errors import InvalidEmail
from portal_core.model.contact import normalise_email


@pytest.mark.parametrize("email", ["homer\x00@globex.example", "\x07homer@globex.example", "ho\x1bmer@globex.example",
                                   "homer\x7f@globex.example"])
def test_an_email_with_a_control_character_is_malformed(email: str) -> None:
    # PostgreSQL refuses a NUL in any text parameter: such an address became a database error (a 500) at sign-in.
    with pytest.raises(InvalidEmail):
        normalise_email(email)
