"""Schemathesis against a live `portal serve` (gunicorn, 2 workers, SQLite with the demo seed): every operation of
/api/v1/openapi.json, with generated valid and invalid inputs, never answers 5xx and never answers what its schema
does not allow (status, content type, body). And the per-key rate limit, attacked by thirty parallel callers across
two worker processes on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from entrypoints.demo import demo_seed
from tests.support.served_portal import served_portal, served_portal_process


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "entrypoints.cli", *args], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    tmp = tmp_path_factory.mktemp("schemathesis")
    seed = tmp / "seed.json"
    seed.write_text(json.dumps(demo_seed(dt.date.today())), encoding="utf-8")
    env = {**os.environ, "PORTAL_DATABASE_URL": f"sqlite:///{tmp / 'portal.db'}",
           "PORTAL_SECRET_KEY": "schemathesis-secret-0123456789", "PORTAL_EMAIL_URL": "console://",
           "PORTAL_FILE_DIR": str(tmp / "files"), "PORTAL_API_RATE_PER_MINUTE": "1000000"}
    _cli(env, "db", "upgrade")
    _cli(env, "seed", str(seed))
    key = _cli(env, "api-key", "create", "schemathesis").strip()
    with served_portal(env, workers=2, log_path=tmp / "serve.log") as base_url:
        yield base_url, key
    log = (tmp / "serve.log").read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]


def test_no_operation_answers_5xx_or_breaks_its_schema(live_api: tuple[str, str], tmp_path: Path) -> None:
    """Schemathesis's own runner (its command line), every phase it has, a fixed seed so a failure reproduces."""
    base_url, key = live_api
    done = subprocess.run(
        [str(Path(sys.executable).with_name("st")), "run", base_url + "/api/v1/openapi.json", "--url",
         base_url + "/api/v1", "--header", f"Authorization: Bearer {key}",
         "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,"
                     "response_schema_conformance,response_headers_conformance",
         "--max-examples", "25", "--seed", "20261205", "--report", "junit", "--report-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=600, check=False, env={**os.environ, "NO_COLOR": "1"})
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "No issues found" in done.stdout or " passed" in done.stdout, done.stdout[-2000:]


@pytest.mark.postgres
def test_the_rate_limit_holds_across_two_workers_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    """Thirty calls at once with one key, from thirty connections spread over two gunicorn worker processes that
    share one PostgreSQL: exactly the limit get through; the rest are 429 with Retry-After and the JSON error."""
    import concurrent.futures
    import threading

    import requests

    from adapters.sqlalchemy.engine import create_engine_from_url
    from adapters.sqlalchemy.migrate import upgrade

    from .conftest import wipe

    limit = 10
    env = {**os.environ, "PORTAL_DATABASE_URL": postgres_url, "PORTAL_SECRET_KEY": "rate-limit-secret-0123456789",
           "PORTAL_EMAIL_URL": "console://", "PORTAL_FILE_DIR": str(tmp_path / "files"),
           "PORTAL_API_RATE_PER_MINUTE": str(limit)}
    upgrade(postgres_url)
    try:
        key = _cli(env, "api-key", "create", "crm").strip()
        other = _cli(env, "api-key", "create", "books").strip()
        with served_portal_process(env, workers=2, log_path=tmp_path / "serve.log") as (base_url, process):
            children = subprocess.run(["ps", "--ppid", str(process.pid), "-o", "pid="], capture_output=True,
                                      text=True, check=False).stdout.split()
            assert len(children) == 2, "gunicorn runs two worker processes"
            start = threading.Barrier(30)

            def call(_n: int) -> requests.Response:
                with requests.Session() as session:  # a connection of its own
                    start.wait()
                    return session.get(base_url + "/api/v1/companies", timeout=30,
                                       headers={"Authorization": f"Bearer {key}"})

            with concurrent.futures.ThreadPoolExecutor(30) as pool:
                answers = list(pool.map(call, range(30)))
            assert sorted(a.status_code for a in answers) == [200] * limit + [429] * (30 - limit)
            for refused in (a for a in answers if a.status_code == 429):
                assert int(refused.headers["Retry-After"]) > 0
                assert refused.json()["error"]["code"] == "rate_limited"
            assert requests.get(base_url + "/api/v1/companies", timeout=30,
                                headers={"Authorization": f"Bearer {other}"}).status_code == 200
    finally:
        engine = create_engine_from_url(postgres_url)
        wipe(engine)
        engine.dispose()
