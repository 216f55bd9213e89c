"""The benchmark's floor: a bare WSGI route that runs one indexed query on the portal's database, served by the same
gunicorn settings as `portal serve`, so the portal's pages can be read as a multiple of it.

    BENCH_DATABASE_URL=... gunicorn --chdir bench floor:app
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from adapters.sqlalchemy import tables as t
from adapters.sqlalchemy.engine import create_engine_from_url

_engine: sa.Engine | None = None
# One indexed lookup (the unique index on the link token), as every portal page makes first.
_QUERY = sa.select(t.companies.c.name).where(t.companies.c.link_token == sa.bindparam("token"))


def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    global _engine
    if _engine is None:  # per worker, after gunicorn's fork
        _engine = create_engine_from_url(os.environ["BENCH_DATABASE_URL"])
    token = environ.get("PATH_INFO", "/").rsplit("/", 1)[-1]
    with _engine.connect() as connection:
        name = connection.execute(_QUERY, {"token": token}).scalar_one_or_none()
    body = (name or "none").encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
