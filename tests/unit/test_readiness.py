"""Readiness: ready only when the database answers and is at the revision the code expects."""

from __future__ import annotations

from adapters.memory import InMemorySchemaStatus
from portal_core.errors import DatabaseUnavailable
from portal_core.readiness import check_readiness
from tests.support.portal_app import build_portal


class _Unreachable(InMemorySchemaStatus):
    def current_revision(self) -> str | None:
        raise DatabaseUnavailable("gone")


def test_ready_only_at_the_expected_revision() -> None:
    assert check_readiness(InMemorySchemaStatus()).ready
    behind = check_readiness(InMemorySchemaStatus(current="0003"))
    assert not behind.ready and "portal db upgrade" in behind.reason
    assert not check_readiness(InMemorySchemaStatus(current=None)).ready


def test_an_unreachable_database_is_not_ready_and_not_an_error() -> None:
    readiness = check_readiness(_Unreachable())
    assert not readiness.ready and readiness.reason == "the database cannot be reached"


def test_readyz_answers_503_with_the_reason_and_healthz_stays_200() -> None:
    app, services = build_portal()
    client = app.test_client()
    assert client.get("/readyz").json == {"status": "ready", "reason": "ready"}
    services.schema_status.current = None  # type: ignore[attr-defined]
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json["status"] == "not ready"
    assert response.headers["Cache-Control"] == "no-store"
    assert client.get("/healthz").status_code == 200
