"""A list builds its rows' links once (pages.url_of_each, issue 14); each must be exactly what url_for builds, for
any id a CRM may use and any link token."""

from __future__ import annotations

from flask import g, url_for
from hypothesis import given
from hypothesis import strategies as st

from entrypoints.web.pages import url_of_each
from tests.support.portal_app import build_portal

APP, _SERVICES = build_portal()
ROUTES = [("pages.invoice", "invoice_id"), ("pages.quote", "quote_id"), ("pages.job", "job_id"),
          ("files.view", "file_id"), ("files.download", "file_id")]


# The characters a path treats specially, often, among any others a database can store (no lone surrogates: they
# have no UTF-8 form, and url_for itself cannot build a link with one).
ID_CHARACTERS = st.one_of(st.sampled_from("/%?#&=+ ~!$'()*,:;@."), st.characters(exclude_categories=("Cs",)))


@given(record_id=st.text(alphabet=ID_CHARACTERS, min_size=1, max_size=40),
       token=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_%~.\x01", min_size=1, max_size=30),
       route=st.sampled_from(ROUTES))
def test_each_rows_link_is_what_url_for_builds(record_id: str, token: str, route: tuple[str, str]) -> None:
    endpoint, key = route
    with APP.test_request_context(f"/p/{token}/"):
        g.link_token = token
        assert url_of_each(endpoint, key)(record_id) == url_for(endpoint, **{key: record_id})


def test_the_links_on_a_page_open_the_records() -> None:
    with APP.test_request_context("/p/tok/"):
        g.link_token = "tok"
        assert url_of_each("pages.invoice", "invoice_id")("INV 1/2") == "/p/tok/invoices/INV%201/2"
