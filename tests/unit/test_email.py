"""Email addresses: trimmed, compared case-insensitively, validated (InvalidEmail otherwise)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal_core.errors import InvalidEmail, InvalidInput
from portal_core.model.business import Business
from portal_core.model.contact import Contact, email_key, normalise_email

local_parts = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-", min_size=1,
                      max_size=20)
labels = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=10)
emails = st.builds(lambda local, labels, tld: f"{local}@{'.'.join(labels)}.{tld}", local_parts,
                   st.lists(labels, min_size=1, max_size=3), st.sampled_from(["com", "example", "ae", "CO"]))
blanks = st.text(alphabet=" \t\n", max_size=3)


@pytest.mark.parametrize(("typed", "stored"), [
    ("homer@globex.example", "homer@globex.example"),
    ("  Homer@Globex.Example \n", "Homer@Globex.Example"),
    ("first.last+tag@mail.co.uk", "first.last+tag@mail.co.uk"),
])
def test_valid_addresses_are_trimmed_and_keep_their_case(typed: str, stored: str) -> None:
    assert normalise_email(typed) == stored
    assert email_key(typed) == stored.lower()


@pytest.mark.parametrize("bad", [
    "", "   ", "homer", "homer@", "@globex.example", "homer@globex", "homer@@globex.example", "ho mer@globex.example",
    "homer@glo bex.example", "homer@-globex.example", "homer@globex..example", "<homer@globex.example>",
    "homer@globex.example, bart@globex.example", "homer@globex.example\nBcc: x@y.example",
    "a" * 250 + "@x.example",
])
def test_malformed_addresses_raise_invalid_email(bad: str) -> None:
    with pytest.raises(InvalidEmail):
        normalise_email(bad)
    with pytest.raises(InvalidEmail):
        Contact(id="k", company_id="c", name="Homer", email=bad)


@pytest.mark.parametrize("not_text", [None, 42, b"homer@globex.example"])
def test_an_email_must_be_text(not_text: object) -> None:
    with pytest.raises(InvalidEmail):
        normalise_email(not_text)  # type: ignore[arg-type]


def test_invalid_email_is_an_invalid_input_not_a_bare_value_error() -> None:
    assert issubclass(InvalidEmail, InvalidInput)
    with pytest.raises(InvalidEmail) as caught:
        Business(name="Falcon", email="not an email")
    assert isinstance(caught.value, InvalidInput)


@given(email=emails, before=blanks, after=blanks)
@settings(max_examples=100, deadline=None)
def test_normalising_trims_and_is_idempotent(email: str, before: str, after: str) -> None:
    normalised = normalise_email(before + email + after)
    assert normalised == email
    assert normalise_email(normalised) == normalised


@given(email=emails, flips=st.lists(st.booleans(), min_size=80, max_size=80))
@settings(max_examples=100, deadline=None)
def test_the_key_ignores_case_and_surrounding_space(email: str, flips: list[bool]) -> None:
    shouted = "".join(ch.upper() if flip else ch.lower() for ch, flip in zip(email, flips[:len(email)], strict=True))
    assert email_key(" " + shouted + " ") == email_key(email) == email.lower()
    contact = Contact(id="k", company_id="c", name="Homer", email=shouted)
    assert contact.email_key == email.lower()
