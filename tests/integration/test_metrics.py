"""GET /metrics: the bearer token, Prometheus's text format, what the views count (never a link token), the outbox
read at scrape time; and over a real `portal serve --workers 2`, one total for all workers (multiprocess mode)."""

from __future__ import annotations

import os
import re
import secrets
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from adapters.memory import FixedClock, RecordingEmailSender
from adapters.sqlalchemy.migrate import upgrade
from entrypoints.bootstrap import Services, build_services
from entrypoints.demo import demo_seed
from entrypoints.settings import Settings
from portal_core import outbox, payment_providers
from portal_core.model.outbox import OutboxStatus
from portal_core.model.payment import Provider
from portal_core.seed import load_seed
from tests.support.fake_providers import FakeStripe, serve, stripe_event, stripe_signature
from tests.support.portal_app import NOW, build_portal, csrf_of, link_token, outbox_code, sign_in
from tests.support.served_portal import served_portal_process, wait_for_new_workers

TOKEN = "metrics-token-0123456789abcdef"
HOMER = "homer@globex.example"
MARGE = "marge@globex.example"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape_text(client: FlaskClient) -> str:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.status_code
    return response.text


def parse(text: str) -> Samples:
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def scrape(client: FlaskClient) -> Samples:
    return parse(scrape_text(client))


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def ask_for_code(client: FlaskClient, token: str, email: str) -> Any:
    page = client.get(f"/p/{token}/login")
    return client.post(f"/p/{token}/login", data={"email": email, "csrf_token": csrf_of(page.text)})


# ---- the door


def test_the_token_comes_from_the_environment_and_stays_out_of_reprs() -> None:
    settings = Settings.from_env({"PORTAL_METRICS_TOKEN": TOKEN})
    assert settings.metrics_token == TOKEN and TOKEN not in repr(settings)
    assert Settings.from_env({}).metrics_token is None
    assert Settings.from_env({"PORTAL_METRICS_TOKEN": ""}).metrics_token is None


def test_without_a_token_configured_there_is_no_such_page() -> None:
    app, _services = build_portal()
    client = app.test_client()
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer anything"}).status_code == 404


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer wrong-token", f"Basic {TOKEN}", TOKEN,
                                    f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}"])
def test_a_missing_or_wrong_bearer_token_is_refused(header: str | None) -> None:
    app, _services = build_portal(metrics_token=TOKEN)
    headers = {} if header is None else {"Authorization": header}
    response = app.test_client().get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "portal_" not in response.text


def test_the_right_token_gets_the_text_format_uncached_and_without_cookies() -> None:
    app, _services = build_portal(metrics_token=TOKEN)
    client = app.test_client()
    response = client.get("/metrics", headers={"Authorization": f"bearer {TOKEN}"})  # the scheme is any case
    assert response.status_code == 200
    assert response.mimetype == "text/plain" and "version=0.0.4" in response.content_type
    assert response.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers
    for line in ("# TYPE portal_http_requests_total counter",
                 "# TYPE portal_http_request_duration_seconds histogram",
                 "# TYPE portal_sign_in_codes_issued_total counter",
                 "# TYPE portal_sign_in_throttled_total counter",
                 "# TYPE portal_payments_confirmed_total counter",
                 "# TYPE portal_outbox_messages gauge"):
        assert line in response.text
    # Prometheus itself asks for OpenMetrics first, and gets it.
    accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
    asked = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}", "Accept": accept})
    assert asked.mimetype == "application/openmetrics-text" and asked.text.endswith("# EOF\n")


def test_a_post_to_metrics_is_not_allowed() -> None:
    app, _services = build_portal(metrics_token=TOKEN)
    response = app.test_client().post("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 405


# ---- what is counted


def test_requests_are_counted_by_endpoint_and_status_and_never_name_a_link_token() -> None:
    sender = RecordingEmailSender()
    app, services = build_portal(email_sender=sender, metrics_token=TOKEN)
    token = link_token(services, "globex")
    client = app.test_client()
    sign_in(client, token, HOMER, outbox_code(sender))
    assert client.get(f"/p/{token}/").status_code == 200
    assert client.get(f"/p/{token}/").status_code == 200
    stranger = app.test_client()
    assert stranger.get(f"/p/{token}/").status_code == 303
    assert stranger.get("/p/not-a-real-link-token-000000/login").status_code == 404
    assert stranger.get("/no-such-page-at-all-xyz").status_code == 404

    text = scrape_text(client)
    samples = parse(text)
    requests_total = "portal_http_requests_total"
    assert value(samples, requests_total, endpoint="auth.login", status="200") == 1
    assert value(samples, requests_total, endpoint="auth.request_code", status="303") == 1
    assert value(samples, requests_total, endpoint="auth.verify_form", status="200") == 1
    assert value(samples, requests_total, endpoint="auth.verify", status="303") == 1
    assert value(samples, requests_total, endpoint="pages.home", status="200") == 2
    assert value(samples, requests_total, endpoint="pages.home", status="303") == 1
    assert value(samples, requests_total, endpoint="auth.login", status="404") == 1
    assert value(samples, requests_total, endpoint="unmatched", status="404") == 1
    assert value(samples, "portal_http_request_duration_seconds_count", endpoint="pages.home") == 3
    assert value(samples, "portal_http_request_duration_seconds_bucket", endpoint="pages.home", le="+Inf") == 3
    # Labels name routes only: no link token, no path, no email, no code.
    for secret in (token, "not-a-real-link-token", "no-such-page", HOMER, outbox_code(sender)(HOMER)):
        assert secret not in text
    assert not [name for name, labels in samples for key, label in labels if "/" in label and key != "le"]
    # The scrape counts itself afterwards, like any request.
    assert value(scrape(client), requests_total, endpoint="metrics.scrape", status="200") == 1


def test_each_app_counts_for_itself_in_one_process() -> None:
    first, _ = build_portal(metrics_token=TOKEN)
    second, _ = build_portal(metrics_token=TOKEN)
    first.test_client().get("/healthz")
    assert value(scrape(first.test_client()), "portal_http_requests_total", endpoint="ops.healthz",
                 status="200") == 1
    assert value(scrape(second.test_client()), "portal_http_requests_total", endpoint="ops.healthz",
                 status="200") == 0


def test_codes_issued_and_throttled_are_counted() -> None:
    app, services = build_portal(metrics_token=TOKEN)
    token = link_token(services, "globex")
    client = app.test_client()
    before = scrape(client)
    assert value(before, "portal_sign_in_codes_issued_total") == 0

    assert ask_for_code(client, token, HOMER).status_code == 303
    assert value(scrape(client), "portal_sign_in_codes_issued_total") == 1
    # An email that is no contact's gets the same answer, and no code.
    assert ask_for_code(app.test_client(), token, "nobody@nowhere.example").status_code == 303
    assert value(scrape(client), "portal_sign_in_codes_issued_total") == 1
    # The same browser again within the minute: throttled, named by the limit it reached.
    assert ask_for_code(client, token, HOMER).status_code == 429
    after = scrape(client)
    assert value(after, "portal_sign_in_codes_issued_total") == 1
    assert value(after, "portal_sign_in_throttled_total", limit="per-flow") == 1
    assert value(after, "portal_http_requests_total", endpoint="auth.request_code", status="429") == 1


def test_wrong_codes_past_the_limit_are_counted_as_throttled() -> None:
    app, services = build_portal(metrics_token=TOKEN)
    token = link_token(services, "globex")
    client = app.test_client()
    assert ask_for_code(client, token, HOMER).status_code == 303
    statuses = []
    for _ in range(services.sign_in_policy.wrong_codes_per_ip_per_hour + 2):
        page = client.get(f"/p/{token}/verify")
        statuses.append(client.post(f"/p/{token}/verify",
                                    data={"code": "000000", "csrf_token": csrf_of(page.text)}).status_code)
    assert statuses.count(429) == 2
    assert value(scrape(client), "portal_sign_in_throttled_total", limit="wrong-codes") == statuses.count(429)


def test_the_outbox_gauge_is_read_at_scrape_time_and_matches_mail_status() -> None:
    sender = RecordingEmailSender()
    clock = FixedClock(NOW)
    app, services = build_portal(email_sender=sender, clock=clock, metrics_token=TOKEN)
    token = link_token(services, "globex")
    assert ask_for_code(app.test_client(), token, HOMER).status_code == 303  # sent at once
    sender.fail_with = "relay down"
    assert ask_for_code(app.test_client(), token, MARGE).status_code == 303  # stays queued
    clock.advance(minutes=11)  # the code has expired: its mail's next try is its last
    outbox.dispatch_due(services.uow(), sender=sender, clock=clock, randomness=services.randomness)
    assert ask_for_code(app.test_client(), token, HOMER).status_code == 303  # queued again, relay still down

    status = outbox.mail_status(services.uow())
    assert status[OutboxStatus.SENT] >= 1 and status[OutboxStatus.PENDING] >= 1 and status[OutboxStatus.FAILED] >= 1
    samples = scrape(app.test_client())
    for state in OutboxStatus:
        assert value(samples, "portal_outbox_messages", state=state.value) == status[state]

    sender.fail_with = None
    clock.advance(minutes=1)  # past the first retry's wait
    outbox.dispatch_due(services.uow(), sender=sender, clock=clock, randomness=services.randomness)
    later = scrape(app.test_client())
    now = outbox.mail_status(services.uow())
    assert value(later, "portal_outbox_messages", state="pending") == now[OutboxStatus.PENDING] == 0
    assert value(later, "portal_outbox_messages", state="sent") == status[OutboxStatus.SENT] + 1


# ---- payments: confirmed by a webhook or by the client's return

STRIPE_KEY = "sk_test_metrics_0123456789"
WEBHOOK_SECRET = "whsec_metrics_secret"


@pytest.fixture
def fake_stripe() -> FakeStripe:
    return FakeStripe()


@pytest.fixture
def stripe_base(fake_stripe: FakeStripe) -> Iterator[str]:
    with serve(fake_stripe) as base:
        yield base


def _webhook(app: Flask, payload: bytes, secret: str) -> int:
    return app.test_client().post("/webhooks/stripe", data=payload, headers={
        "Content-Type": "application/json", "Stripe-Signature": stripe_signature(payload, secret)}).status_code


def _invoice_id(services: Services, ref: str) -> str:
    with services.uow() as uow:
        invoice = uow.invoices.get_by_ref(ref)
    assert invoice is not None
    return invoice.id


def test_a_payment_is_counted_once_however_it_is_confirmed(fake_stripe: FakeStripe, stripe_base: str) -> None:
    sender = RecordingEmailSender()
    app, services = build_portal(email_sender=sender, stripe_api_base=stripe_base, metrics_token=TOKEN)
    payment_providers.connect_provider(services.uow(), vault=services.credential_vault, clock=services.clock,
                                       randomness=services.randomness, provider=Provider.STRIPE,
                                       credentials={"secret_key": STRIPE_KEY, "webhook_secret": WEBHOOK_SECRET})
    client = app.test_client()
    token = link_token(services, "globex")
    sign_in(client, token, HOMER, outbox_code(sender))
    invoice_id = _invoice_id(services, "globex-i1")
    detail = client.get(f"/p/{token}/invoices/{invoice_id}")
    assert client.post(f"/p/{token}/invoices/{invoice_id}/pay",
                       data={"csrf_token": csrf_of(detail.text)}).status_code == 303
    [session] = fake_stripe.sessions.values()
    fake_stripe.complete(session["id"])
    payload = stripe_event("evt_metrics_1", "checkout.session.completed", session)

    assert _webhook(app, payload, "whsec_forged") == 400
    assert value(scrape(client), "portal_payments_confirmed_total", provider="stripe") == 0
    assert _webhook(app, payload, WEBHOOK_SECRET) == 200
    assert value(scrape(client), "portal_payments_confirmed_total", provider="stripe") == 1
    assert _webhook(app, payload, WEBHOOK_SECRET) == 200  # a replay: acknowledged, not counted again
    samples = scrape(client)
    assert value(samples, "portal_payments_confirmed_total", provider="stripe") == 1
    assert value(samples, "portal_http_requests_total", endpoint="payment_webhooks.stripe_webhook",
                 status="200") == 2

    # A payment confirmed by the client's return (no webhook) counts too: the number comes from the ledger.
    second = _invoice_id(services, "globex-i2")
    detail = client.get(f"/p/{token}/invoices/{second}")
    paying = client.post(f"/p/{token}/invoices/{second}/pay", data={"csrf_token": csrf_of(detail.text)})
    assert paying.status_code == 303
    [later] = [s for s in fake_stripe.sessions.values() if s["id"] != session["id"]]
    fake_stripe.complete(later["id"])
    assert "Payment received" in client.get(f"/p/{token}/invoices/{second}/paid").text
    assert value(scrape(client), "portal_payments_confirmed_total", provider="stripe") == 2
    assert value(scrape(client), "portal_payments_confirmed_total", provider="telr") == 0


# ---- a real `portal serve`: every worker counts into one total


def _scraped_logins(base_url: str) -> tuple[float, float, str]:
    response = requests.get(f"{base_url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert response.status_code == 200, response.text
    samples = parse(response.text)
    return (value(samples, "portal_http_requests_total", endpoint="auth.login", status="200"),
            value(samples, "portal_http_request_duration_seconds_count", endpoint="auth.login"), response.text)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds gunicorn's workers through /proc")
def test_every_worker_of_portal_serve_counts_into_one_total_that_survives_their_restart(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'portal.db'}"
    upgrade(url)
    secret = secrets.token_urlsafe(32)
    settings = Settings.from_env({}, database_url=url, secret_key=secret, file_dir=str(tmp_path / "files"))
    services = build_services(settings)
    try:
        load_seed(services.uow(), randomness=services.randomness, clock=services.clock, storage=services.files,
                  document=demo_seed(services.clock.now().date()))
        token = link_token(services, "globex")
    finally:
        services.close()
    env = {"PORTAL_DATABASE_URL": url, "PORTAL_SECRET_KEY": secret, "PORTAL_EMAIL_URL": "console://",
           "PORTAL_FILE_DIR": str(tmp_path / "files"), "PORTAL_METRICS_TOKEN": TOKEN,
           "PROMETHEUS_MULTIPROC_DIR": "",  # as if unset: `portal serve` makes a fresh folder...
           "TMPDIR": str(tmp_path)}  # ...here, where the test can see it made and removed
    sent = 20
    with served_portal_process(env, workers=2, log_path=tmp_path / "serve.log") as (base_url, process):
        [folder] = tmp_path.glob("portal-metrics-*")
        old = wait_for_new_workers(process.pid, set(), 2)
        for _ in range(sent // 2):  # a connection each: the kernel hands them to whichever worker accepts
            assert requests.get(f"{base_url}/p/{token}/login", timeout=10).status_code == 200
        for _ in range(5):  # whichever worker answers the scrape, it reports all of them
            count, timed, text = _scraped_logins(base_url)
            assert (count, timed) == (sent // 2, sent // 2)
            assert token not in text
        # A reload replaces every worker: what the old ones counted stays counted.
        os.kill(process.pid, signal.SIGHUP)
        wait_for_new_workers(process.pid, old, 2)
        for _ in range(sent // 2):
            assert requests.get(f"{base_url}/p/{token}/login", timeout=10).status_code == 200
        count, timed, _text = _scraped_logins(base_url)
        assert (count, timed) == (sent, sent)
        assert len([f for f in os.listdir(folder) if re.fullmatch(r"counter_\d+\.db", f)]) >= 4
    assert not folder.exists(), "portal serve leaves its metrics folder behind"
