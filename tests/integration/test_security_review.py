"""Findings of the security review: each test failed before its fix."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from adapters.memory import RecordingEmailSender
from adapters.sqlalchemy.engine import create_engine_from_url
from adapters.sqlalchemy.migrate import upgrade
from entrypoints.bootstrap import Services
from tests.support.portal_app import build_portal, csrf_of, link_token, outbox_code, sign_in

# ---- NUL bytes: PostgreSQL refuses them in text parameters, which became a 500 with the parameters in the log


@pytest.fixture(params=["memory", pytest.param("postgres", marks=pytest.mark.postgres)])
def nul_portal(request: pytest.FixtureRequest) -> Iterator[tuple[Flask, Services, RecordingEmailSender]]:
    settings: dict[str, str] = {}
    if request.param == "postgres":
        url: str = request.getfixturevalue("postgres_url")
        upgrade(url)
        settings["database_url"] = url
    sender = RecordingEmailSender()
    app, services = build_portal(email_sender=sender, **settings)
    try:
        yield app, services, sender
    finally:
        services.close()
    if request.param == "postgres":
        from tests.integration.conftest import wipe

        engine = create_engine_from_url(url)
        try:
            wipe(engine)
        finally:
            engine.dispose()


def _signed_in(app: Flask, services: Services, sender: RecordingEmailSender) -> tuple[FlaskClient, str]:
    token = link_token(services, "globex")
    client = app.test_client()
    sign_in(client, token, "homer@globex.example", outbox_code(sender))
    return client, token


@pytest.mark.parametrize("path", ["invoices/%00", "invoices/a%00b/paid", "invoices/%00/cancelled", "quotes/%00",
                                  "jobs/%00", "projects/%00", "files/%00", "files/%00/download", "requests/%00"])
def test_a_nul_byte_in_a_record_id_is_a_plain_404(nul_portal: tuple[Flask, Services, RecordingEmailSender],
                                                  path: str) -> None:
    client, token = _signed_in(*nul_portal)
    assert client.get(f"/p/{token}/{path}").status_code == 404


@pytest.mark.parametrize("path", ["/p/%00/login", "/p/%00/", "/p/a%00b/invoices"])
def test_a_nul_byte_in_the_link_token_is_a_plain_404(nul_portal: tuple[Flask, Services, RecordingEmailSender],
                                                     path: str) -> None:
    app, _services, _sender = nul_portal
    assert app.test_client().get(path).status_code == 404


def test_a_nul_byte_in_the_sign_in_email_is_refused_like_any_malformed_email(
        nul_portal: tuple[Flask, Services, RecordingEmailSender]) -> None:
    app, services, sender = nul_portal
    token = link_token(services, "globex")
    client = app.test_client()
    csrf = csrf_of(client.get(f"/p/{token}/login").text)
    response = client.post(f"/p/{token}/login", data={"email": "homer\x00@globex.example", "csrf_token": csrf})
    assert response.status_code == 400
    assert sender.outbox == []


def test_a_nul_byte_in_a_new_request_is_refused_and_nothing_is_stored(
        nul_portal: tuple[Flask, Services, RecordingEmailSender]) -> None:
    client, token = _signed_in(*nul_portal)
    page = client.get(f"/p/{token}/requests/new").text
    form_token = re.search(r'name="form_token" value="([^"]+)"', page)
    assert form_token
    before = client.get(f"/p/{token}/requests").text
    response = client.post(f"/p/{token}/requests/new", data={
        "csrf_token": csrf_of(page), "form_token": form_token.group(1), "title": "Leak\x00", "details": "x\x00y"})
    assert response.status_code == 400
    assert client.get(f"/p/{token}/requests").text == before


# ---- the database driver's errors must not carry the statement's parameters (emails, tokens) into the log

PARAMETERS = {"email": "homer@globex.example"}  # out of the failing line, which a logged traceback quotes


def test_database_errors_do_not_carry_parameters_into_messages_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    engine = create_engine_from_url("sqlite://")
    try:
        with pytest.raises(sa.exc.DBAPIError) as caught, engine.connect() as connection:
            connection.execute(sa.text("SELECT :email + no_such_column"), PARAMETERS)
    finally:
        engine.dispose()
    with caplog.at_level(logging.ERROR):
        logging.getLogger("portal.web").error("boom", exc_info=caught.value)
    assert "homer@globex.example" not in str(caught.value)
    assert "homer@globex.example" not in caplog.text
