"""The benchmark's Flask floor: what a user compares the portal with. A bare Flask app with one route that runs one
indexed query (25 rows of the 250,000-row invoices table, in the order of its primary key index) and renders them
through a Jinja template, served by the same gunicorn settings as `portal serve`.

    BENCH_DATABASE_URL=... gunicorn --chdir bench flask_floor:app
"""

from __future__ import annotations

import os

import sqlalchemy as sa
from flask import Flask, render_template

from adapters.sqlalchemy import tables as t
from adapters.sqlalchemy.engine import create_engine_from_url

app = Flask(__name__)
_engine: sa.Engine | None = None
_c = t.invoices.c
# 25 rows from a point in the primary key's order: an index range scan that stops at the page.
_QUERY = (sa.select(_c.id, _c.number, _c.status, _c.due_date, _c.total_minor, _c.currency)
          .where(_c.id >= sa.bindparam("start")).order_by(_c.id).limit(25))


@app.get("/floor/<start>")
def floor(start: str) -> str:
    global _engine
    if _engine is None:  # per worker, after gunicorn's fork
        _engine = create_engine_from_url(os.environ["BENCH_DATABASE_URL"])
    with _engine.connect() as connection:
        rows = connection.execute(_QUERY, {"start": start}).all()
    return render_template("floor.html", rows=rows)
