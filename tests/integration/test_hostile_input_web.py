"""Whatever a stranger types into a URL, no page answers 5xx; refusals are logged once a minute per address.

A property: arbitrary query strings and path segments, sent to every GET route of the app, signed in and not.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import quote

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .web_fixtures import SignedIn, WebPortal, homer, portal  # noqa: F401 - fixtures

ODD_PAGES = ["%C2%B2", "%D9%A3", "99999999999999999999999999", "-1", "", "0", "1e3", "%00", "+5", " 7", "%EF%BC%95",
             "1" * 5000]


def _get_routes(app: Flask) -> list[str]:
    """Every GET rule of the app, with its variables left to be filled."""
    return sorted({rule.rule for rule in app.url_map.iter_rules()
                   if "GET" in (rule.methods or set()) and not rule.rule.startswith("/static")})


def _fill(rule: str, token: str, segment: str) -> str:
    path = rule.replace("<token>", token)
    return re.sub(r"<(?:[a-z]+:)?[a-z_]+>", quote(segment, safe=""), path)


@pytest.mark.parametrize("page", ODD_PAGES)
@pytest.mark.parametrize("section", ["/requests", "/invoices", "/quotes", "/jobs", "/projects", "/tasks",
                                     "/products", "/files"])
def test_odd_page_numbers_answer_the_first_page_or_404(homer: SignedIn, section: str,  # noqa: F811
                                                       page: str) -> None:
    response = homer.client.get(f"/p/{homer.token}{section}?page={page}")
    assert response.status_code in (200, 404), (section, page, response.status_code)


@given(segment=st.text(min_size=1, max_size=40), query=st.text(max_size=60))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_no_get_route_answers_5xx_for_any_path_segment_or_query(portal: WebPortal, homer: SignedIn,  # noqa: F811
                                                                 segment: str, query: str) -> None:
    anonymous = portal.app.test_client()
    for rule in _get_routes(portal.app):
        for client, token in ((homer.client, homer.token), (anonymous, homer.token), (anonymous, segment)):
            path = _fill(rule, quote(token, safe=""), segment)
            # The query goes out as typed, bad percent-escapes and all.
            response = client.get(path, environ_overrides={"QUERY_STRING": quote(query, safe="=&%+;")})
            assert response.status_code < 500, (path, query, response.status_code)


def test_a_refusal_is_one_warning_line_a_minute_per_address_and_kind(portal: WebPortal,  # noqa: F811
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="portal.access")
    client = portal.app.test_client()
    for _ in range(5):  # (addresses of this test's own: the once-a-minute memory is the worker's)
        assert client.get("/p/no-such-portal-link-000000000/login",
                          environ_base={"REMOTE_ADDR": "198.51.100.76"}).status_code == 404
    other = portal.app.test_client()
    assert other.get("/p/no-such-portal-link-000000000/login",
                     environ_base={"REMOTE_ADDR": "198.51.100.77"}).status_code == 404
    lines = [r.getMessage() for r in caplog.records if r.name == "portal.access"]
    assert len(lines) == 2, lines  # one per address, however often it knocks
    assert all(line.startswith("refused unknown link: GET /p/<token>/login company=- client=") for line in lines)
    assert not any("no-such-portal-link" in line or "198.51.100.7" in line for line in lines)


def test_another_companys_record_is_a_logged_404(portal: WebPortal, homer: SignedIn,  # noqa: F811
                                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="portal.access")
    foreign = portal.id_of("invoices", "initech-i1")
    assert homer.get(f"/invoices/{foreign}", environ_base={"REMOTE_ADDR": "198.51.100.78"}).status_code == 404
    (line,) = [r.getMessage() for r in caplog.records if r.name == "portal.access"]
    with portal.services.uow() as uow:
        globex = uow.companies.get_by_ref("globex")
    assert globex is not None
    assert line.startswith("refused not found: GET /p/<token>/invoices/<invoice_id> company=" + globex.id)
    assert foreign not in line and homer.token not in line
