"""Metrics for whoever runs the portal: GET /metrics in Prometheus's text format, behind a bearer token, and the
counters the views move (docs/adr/0011-metrics.md).

prometheus_client chooses between one process's memory and PROMETHEUS_MULTIPROC_DIR's shared files when it is
first imported, so this module (and the blueprints that call it) is imported only when create_app runs, after
`portal serve` has set the folder; the metric objects are made when an app is created, never at import.
"""

from __future__ import annotations

import hmac
import os
import threading
import time
from collections.abc import Callable, Iterator

import attrs
from flask import Blueprint, Flask, Response, abort, current_app, g, request
from flask.typing import ResponseReturnValue
from prometheus_client import CollectorRegistry, Counter, Histogram, values
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector

from entrypoints.settings import ConfigurationError
from portal_core import ledger, outbox
from portal_core.errors import DatabaseUnavailable
from portal_core.ports import UnitOfWork

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
EXTENSION = "portal.metrics"
UNMATCHED = "unmatched"  # the endpoint label of a request no route matched: the path itself is never a label

blueprint = Blueprint("metrics", __name__)


@attrs.frozen(kw_only=True)
class PortalMetrics:
    """The metric objects. `registry` is None in multiprocess mode, where the files in the folder are the registry."""

    requests: Counter
    latency: Histogram
    codes_issued: Counter
    throttled: Counter
    registry: CollectorRegistry | None

    @classmethod
    def create(cls, registry: CollectorRegistry | None) -> PortalMetrics:
        return cls(
            requests=Counter("portal_http_requests", "HTTP requests answered, by Flask endpoint and status.",
                             ["endpoint", "status"], registry=registry),
            latency=Histogram("portal_http_request_duration_seconds",
                              "Time to answer a request (until the response is handed to the server), by endpoint.",
                              ["endpoint"], registry=registry),
            codes_issued=Counter("portal_sign_in_codes_issued", "Sign-in codes issued (and queued for mail).",
                                 registry=registry),
            throttled=Counter("portal_sign_in_throttled", "Sign-in requests refused by a throttle, by limit.",
                              ["limit"], registry=registry),
            registry=registry)


@attrs.frozen(kw_only=True)
class _State:
    metrics: PortalMetrics
    uow: Callable[[], UnitOfWork]
    token: str | None = attrs.field(repr=False)


_shared: PortalMetrics | None = None
_shared_lock = threading.Lock()


def _metrics_for_app() -> PortalMetrics:
    if not os.environ.get(MULTIPROCESS_DIR):
        # One process: each app counts for itself (tests build many apps in one process).
        return PortalMetrics.create(CollectorRegistry())
    if values.ValueClass is values.MutexValue:
        raise ConfigurationError(f"{MULTIPROCESS_DIR} was set after prometheus_client was imported: each worker "
                                 "would count alone; set it before the portal starts")
    global _shared
    with _shared_lock:  # one set per process: two objects of one name would overwrite each other's file entry
        if _shared is None:
            _shared = PortalMetrics.create(None)
        return _shared


def install_metrics(app: Flask, *, uow: Callable[[], UnitOfWork], token: str | None) -> None:
    """GET /metrics and the request hooks. Called before any other before_request hook, so every answer is timed."""
    app.extensions[EXTENSION] = _State(metrics=_metrics_for_app(), uow=uow, token=token)
    app.register_blueprint(blueprint)
    app.before_request(_start_timer)
    app.after_request(_count_request)


def _state() -> _State:
    return current_app.extensions[EXTENSION]  # type: ignore[no-any-return]


# ---- what the views count (one call each, from the web layer)


def sign_in_code_requested(queued: str | None) -> None:
    """Counts a code when one was issued: `queued` is its mail's outbox id, None for an email that is no contact's."""
    if queued is not None:
        _state().metrics.codes_issued.inc()


def sign_in_throttled(limit: str) -> None:
    _state().metrics.throttled.labels(limit=limit or "unnamed").inc()


# ---- requests


def _start_timer() -> None:
    g.metrics_started = time.perf_counter()


def _count_request(response: Response) -> Response:
    metrics = _state().metrics
    endpoint = request.endpoint or UNMATCHED  # the rule's name: a path would carry the link token
    metrics.requests.labels(endpoint=endpoint, status=str(response.status_code)).inc()
    started = g.get("metrics_started")
    if started is not None:
        metrics.latency.labels(endpoint=endpoint).observe(time.perf_counter() - started)
    return response


# ---- the scrape


class _DatabaseCollector:
    """What the database knows, read when scraped: the outbox by state, and payments confirmed by provider. Each is
    one number for all workers and hosts, whoever moved it (a webhook, a return page, `portal payments reconcile`),
    so no worker keeps a copy that could go stale or miss what another process did. Payments are never deleted, so
    their count only grows, as a counter must."""

    def __init__(self, uow: Callable[[], UnitOfWork]) -> None:
        self._uow = uow

    def collect(self) -> Iterator[Metric]:
        try:
            mail = outbox.mail_status(self._uow())
            paid = ledger.confirmed_counts(self._uow())
        except DatabaseUnavailable:
            return  # the request metrics still answer; alert on absent(portal_outbox_messages)
        messages = GaugeMetricFamily("portal_outbox_messages", "Messages in the mail outbox, by state.",
                                     labels=["state"])
        for status, count in mail.items():
            messages.add_metric([status.value], count)
        yield messages
        confirmed = CounterMetricFamily("portal_payments_confirmed",
                                        "Payments a provider confirmed and the ledger applied, by provider.",
                                        labels=["provider"])
        for provider, count in paid.items():
            confirmed.add_metric([provider.value], count)
        yield confirmed


def _authorised(header: str, token: str) -> bool:
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer":
        presented = ""
    return hmac.compare_digest(presented.strip().encode(), token.encode())


@blueprint.get("/metrics")
def scrape() -> ResponseReturnValue:
    state = _state()
    if state.token is None:
        abort(404)  # not configured: as if there were no such page
    if not _authorised(request.headers.get("Authorization", ""), state.token):
        return Response("unauthorised\n", 401, mimetype="text/plain",
                        headers={"WWW-Authenticate": 'Bearer realm="metrics"', "Cache-Control": "no-store"})
    registry = CollectorRegistry()
    if state.metrics.registry is None:
        MultiProcessCollector(registry)  # every worker's files, the dead ones' counts included
    else:
        registry.register(state.metrics.registry)
    registry.register(_DatabaseCollector(state.uow))
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))  # Prometheus may ask for OpenMetrics
    response = Response(encode(registry), content_type=content_type)
    response.headers["Cache-Control"] = "no-store"
    return response
