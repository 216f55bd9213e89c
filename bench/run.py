"""The portal's benchmark: a large world in PostgreSQL, served by `portal serve --workers 2`, driven by wrk and a
sign-in driver from other processes, side by side in the same run with two floors: a bare Flask page (one indexed
query, 25 rows through a Jinja template: what a user compares with) and a bare WSGI route (one indexed lookup).
Not a test.

    python bench/run.py            # PORTAL_BENCH_DATABASE_URL, else PORTAL_TEST_DATABASE_URL, else local postgres
    python bench/run.py --json out.json --seconds 10

Needs wrk (apt-get install wrk) and aiosmtpd (the test extra). Everything happens in a new PostgreSQL schema that
is dropped at the end (--keep keeps it). The report is printed as Markdown; docs/performance.md records one run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa

from adapters.filesystem import LocalFileStorage
from adapters.sqlalchemy import tables as t
from adapters.sqlalchemy.engine import create_engine_from_url
from adapters.sqlalchemy.migrate import upgrade
from adapters.sqlalchemy.schema import SqlAlchemySchemaStatus
from adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWork
from entrypoints.bootstrap import build_services
from entrypoints.settings import Settings
from entrypoints.web import create_app

HERE = Path(__file__).resolve().parent
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

COMPANIES = 5_000
CONTACTS = 20_000
INVOICES = 250_000
JOBS = 100_000
FILES = 200_000
BIG_INVOICES = 2 * 2_500
BIG_JOBS = 2_000
BIG_FILES = 2_000
BATCH = 10_000
TODAY = dt.date.today()
NOW = dt.datetime.now(dt.UTC)
LINES = [{"description": "Labour", "quantity": "3", "unit_price_minor": 12000}]


def _id(prefix: str, n: int) -> str:
    return f"{prefix}{n:015d}"


def _token(company: int) -> str:
    return f"bench-{company:06d}-" + "x" * 24


# ---- the world


def _batches(rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _job_company(n: int) -> int:
    """Jobs 0..BIG_JOBS-1 are the large company's (0); the rest spread over the others."""
    return 0 if n < BIG_JOBS else 1 + n % (COMPANIES - 1)


def _invoice_company(n: int) -> int:
    return 0 if n < BIG_INVOICES else 1 + n % (COMPANIES - 1)


def seed(url: str, file_dir: Path) -> dict[str, Any]:
    """Bulk inserts through SQLAlchemy Core (executemany: psycopg batches them into multi-row INSERTs)."""
    content_hash, size = LocalFileStorage(file_dir).put(io.BytesIO(b"%PDF-1.4 bench file\n" + b"0" * 20_000))
    statuses = ["sent", "partially_paid", "paid", "draft"]
    job_statuses = ["scheduled", "in_progress", "on_hold", "completed"]

    def invoice(n: int) -> dict[str, Any]:
        status = statuses[n % 4]
        paid = {"paid": 37800, "partially_paid": 10000}.get(status, 0)
        company = _invoice_company(n)
        job = n % BIG_JOBS if company == 0 else None
        return {"id": _id("i", n), "company_id": _id("c", company), "number": f"INV-{n:07d}", "status": status,
                "currency": "AED", "issued_date": TODAY - dt.timedelta(days=60 + n % 300),
                "due_date": TODAY + dt.timedelta(days=n % 90 - 45), "lines": LINES, "tax_minor": 1800,
                "amount_paid_minor": paid, "total_minor": 37800, "job_id": _id("j", job) if job is not None else None,
                "ref": None}

    def file(n: int) -> dict[str, Any]:
        if n < BIG_FILES:  # the large company's: half on its jobs, half on its invoices
            on_job = n % 2 == 0
            return {"id": _id("f", n), "company_id": _id("c", 0), "name": f"report-{n:05d}.pdf",
                    "content_type": "application/pdf", "size": size, "content_hash": content_hash,
                    "attached_at": NOW - dt.timedelta(minutes=n), "job_id": _id("j", n % BIG_JOBS) if on_job else None,
                    "invoice_id": None if on_job else _id("i", n % BIG_INVOICES), "ref": None}
        job = BIG_JOBS + n % (JOBS - BIG_JOBS)
        return {"id": _id("f", n), "company_id": _id("c", _job_company(job)), "name": f"file-{n:06d}.pdf",
                "content_type": "application/pdf", "size": size, "content_hash": content_hash,
                "attached_at": NOW - dt.timedelta(minutes=n % 100_000), "job_id": _id("j", job), "invoice_id": None,
                "ref": None}

    plan: list[tuple[sa.Table, Callable[[], Iterator[dict[str, Any]]]]] = [
        (t.business, lambda: iter([{"id": 1, "name": "Falcon Facilities", "email": "office@falcon.example",
                                    "about": "Facilities management.", "phone": "+971 4 000 0000",
                                    "address": "Dubai", "website": "https://falcon.example",
                                    "brand_color": "#0b6e4f", "logo_url": ""}])),
        (t.companies, lambda: ({"id": _id("c", n), "name": f"Company {n:05d}", "link_token": _token(n),
                                "portal_enabled": True, "ref": None} for n in range(COMPANIES))),
        (t.contacts, lambda: ({"id": _id("k", n), "company_id": _id("c", n % COMPANIES), "name": f"Contact {n}",
                               "email": f"contact{n}@c{n % COMPANIES}.example",
                               "email_key": f"contact{n}@c{n % COMPANIES}.example", "ref": None}
                              for n in range(CONTACTS))),
        (t.products, lambda: ({"id": _id("x", n), "name": f"Service {n:02d}", "description": "A service",
                               "unit_price_minor": 5000 + n, "currency": "AED", "ref": None} for n in range(30))),
        (t.projects, lambda: ({"id": _id("p", n), "company_id": _id("c", 0), "name": f"Project {n:03d}",
                               "status": "active", "ref": None} for n in range(20))),
        (t.jobs, lambda: ({"id": _id("j", n), "company_id": _id("c", _job_company(n)), "title": f"Job {n:06d}",
                           "status": job_statuses[n % 4], "scheduled_start": TODAY + dt.timedelta(days=n % 60 - 30),
                           "scheduled_end": None, "project_id": _id("p", n % 20) if n < BIG_JOBS else None,
                           "ref": None} for n in range(JOBS))),
        (t.invoices, lambda: (invoice(n) for n in range(INVOICES))),
        (t.quotes, lambda: ({"id": _id("q", n), "company_id": _id("c", 0), "number": f"QUO-{n:05d}",
                             "status": ["sent", "accepted", "declined"][n % 3], "currency": "AED",
                             "issued_date": TODAY - dt.timedelta(days=n), "valid_until": TODAY + dt.timedelta(days=n),
                             "lines": LINES, "ref": None} for n in range(200))),
        (t.tasks, lambda: ({"id": _id("t", n), "company_id": _id("c", 0), "title": f"Task {n:04d}",
                            "status": "open" if n % 3 else "done", "job_id": _id("j", n % BIG_JOBS),
                            "due_date": TODAY + dt.timedelta(days=n % 20), "ref": None} for n in range(1_000))),
        (t.files, lambda: (file(n) for n in range(FILES))),
    ]
    engine = create_engine_from_url(url)
    counts: dict[str, int] = {}
    try:
        for table, rows in plan:
            counts[table.name] = 0
            for batch in _batches(rows()):
                with engine.begin() as connection:
                    connection.execute(table.insert(), batch)
                counts[table.name] += len(batch)
        with engine.begin() as connection:
            for table in ("companies", "contacts", "invoices", "jobs", "files"):
                connection.exec_driver_sql(f"ANALYZE {table}")
    finally:
        engine.dispose()
    return counts


# ---- processes


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _process(command: list[str], env: dict[str, str], log: Path, ready_url: str) -> Iterator[subprocess.Popen[bytes]]:
    with open(log, "wb") as out:
        process = subprocess.Popen(command, env={**os.environ, **env, "PYTHONUNBUFFERED": "1"}, stdout=out,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise SystemExit(f"{command[0]} exited:\n{log.read_text()}")
            try:
                if requests.get(ready_url, timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"{command} did not become ready:\n{log.read_text()}")
            time.sleep(0.2)
        yield process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


def _workers(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _busier_share(workers: list[int], load: Callable[[], dict[str, float]]) -> dict[str, float]:
    """load()'s figures, and the share of the workers' CPU time the busier worker spent: wrk's keep-alive
    connections are shared out among gunicorn's workers by the kernel (a socket per worker, SO_REUSEPORT), and
    should all land on one worker the round measures one worker instead of two (a share near 1.0; an even split
    is 0.5). On one shared socket that happened in more than half the rounds (docs/adr/0018)."""
    before = [_cpu_seconds(pid) for pid in workers]
    figures = load()
    spent = [_cpu_seconds(pid) - b for pid, b in zip(workers, before, strict=True)]
    return {**figures, "busier_worker_share": max(spent) / sum(spent) if sum(spent) > 0 else 0.0}


def _postgres_pids() -> list[int]:
    """The PostgreSQL server's processes on this machine (the benchmark's database is local), read from /proc."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in {"postgres", "postmaster"}:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def _cpu_per_sign_in(portal: list[int], load: Callable[[], dict[str, float]]) -> dict[str, float]:
    """load()'s figures, and the CPU milliseconds each complete sign-in cost: the portal's processes (its workers,
    and the mail dispatcher threads in them), PostgreSQL's, and this process's (the driver and the SMTP sink,
    which share the machine's two cores with them)."""
    def spent(pids: list[int]) -> dict[int, float]:
        found = {}
        for pid in pids:
            try:
                found[pid] = _cpu_seconds(pid)
            except OSError:  # a PostgreSQL backend that ended meanwhile
                continue
        return found

    def grew(before: dict[int, float], after: dict[int, float]) -> float:
        # Processes alive at both ends: the portal's and its pooled connections' backends all are.
        return sum(after[pid] - before[pid] for pid in before.keys() & after.keys())

    before = (spent(portal), spent(_postgres_pids()), time.process_time())
    figures = load()
    done = max(figures["requests"], 1)
    return {**figures, "portal_cpu_ms": grew(before[0], spent(portal)) / done * 1000,
            "postgres_cpu_ms": grew(before[1], spent(_postgres_pids())) / done * 1000,
            "driver_cpu_ms": (time.process_time() - before[2]) / done * 1000}


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Mailbox:
    """A local SMTP server's handler: the latest code sent to each address."""

    def __init__(self) -> None:
        self.codes: dict[str, str] = {}
        self.changed = threading.Condition()

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        message = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        body = message.get_body(preferencelist=("plain",))
        found = re.search(r"(?<!\d)(\d{6})(?!\d)", str(body.get_content()) if body else "")
        with self.changed:
            for rcpt in envelope.rcpt_tos:
                if found:
                    self.codes[rcpt.lower()] = found.group(1)
            self.changed.notify_all()
        return "250 OK"

    def take(self, email: str, timeout: float = 20.0) -> str:
        with self.changed:
            if not self.changed.wait_for(lambda: email in self.codes, timeout):
                raise TimeoutError(f"no code for {email}")
            return self.codes.pop(email)


# ---- measuring


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    if not found:
        raise RuntimeError("no csrf_token on the page")
    return found.group(1)


def sign_in(base: str, token: str, email: str, mailbox: Mailbox) -> requests.Session:
    client = requests.Session()
    page = client.get(f"{base}/p/{token}/login", timeout=30)
    sent = client.post(f"{base}/p/{token}/login", data={"email": email, "csrf_token": _csrf(page.text)},
                       allow_redirects=False, timeout=30)
    if sent.status_code != 303:
        raise RuntimeError(f"login answered {sent.status_code}")
    code = mailbox.take(email)
    verify = client.get(f"{base}/p/{token}/verify", timeout=30)
    done = client.post(f"{base}/p/{token}/verify", data={"code": code, "csrf_token": _csrf(verify.text)},
                       allow_redirects=False, timeout=30)
    if done.status_code != 303:
        raise RuntimeError(f"verify answered {done.status_code}")
    return client


def wrk(url: str, seconds: int, *, connections: int, cookie: str | None = None) -> dict[str, float]:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(HERE / "latency.lua")]
    if cookie:
        command += ["-H", f"Cookie: {cookie}"]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    found = re.search(r"^BENCH (.*)$", output, re.MULTILINE)
    if not found:
        raise RuntimeError(f"wrk printed no figures:\n{output}")
    figures = {k: float(v) for k, v in (pair.split("=") for pair in found.group(1).split())}
    return {"rps": figures["requests"] / (figures["duration_us"] / 1e6), "p50_ms": figures["p50_us"] / 1000,
            "p95_ms": figures["p95_us"] / 1000, "p99_ms": figures["p99_us"] / 1000,
            "errors": figures["socket_errors"] + figures["non2xx"], "requests": figures["requests"]}


def sign_in_rate(base: str, mailbox: Mailbox, seconds: int, threads: int) -> dict[str, float]:
    """Whole sign-ins (login page, email, code from the mail, verify page, code) by distinct contacts in parallel."""
    lock = threading.Lock()
    next_contact = iter(range(1, CONTACTS))
    latencies: list[float] = []
    failures = [0]
    end = time.monotonic() + seconds

    def driver() -> None:
        while time.monotonic() < end:
            with lock:
                n = next(next_contact)
            email = f"contact{n}@c{n % COMPANIES}.example"
            started = time.monotonic()
            try:
                sign_in(base, _token(n % COMPANIES), email, mailbox)
            except (RuntimeError, TimeoutError, requests.RequestException):
                with lock:
                    failures[0] += 1
                continue
            with lock:
                latencies.append(time.monotonic() - started)

    started = time.monotonic()
    pool = [threading.Thread(target=driver) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.monotonic() - started
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000 if latencies else 0.0

    return {"rps": len(latencies) / elapsed, "p50_ms": pct(50), "p95_ms": pct(95), "p99_ms": pct(99),
            "errors": failures[0], "requests": len(latencies)}


def statement_counts(url: str, paths: dict[str, str], cookie: tuple[str, str], file_dir: Path) -> dict[str, int]:
    """SQL statements per page, counted in this process through the same app over the same database."""
    engine = create_engine_from_url(url)
    seen: list[str] = []
    counting = [False]

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _count(_c: Any, _cur: Any, statement: str, *_a: Any) -> None:
        if counting[0] and statement.split(None, 1)[0].upper() not in {"BEGIN", "COMMIT", "ROLLBACK"}:
            seen.append(statement)

    try:
        settings = Settings.from_env({}, database_url=url, secret_key=os.environ["PORTAL_SECRET_KEY"],
                                     file_dir=str(file_dir))
        services = build_services(settings, uow=lambda: SqlAlchemyUnitOfWork(engine),
                                  read_uow=lambda: SqlAlchemyUnitOfWork(engine, read_only=True),
                                  schema_status=SqlAlchemySchemaStatus(engine))
        client = create_app(services=services, synchronous_mail=True).test_client()
        client.set_cookie(cookie[0], cookie[1])
        counts = {}
        for name, path in paths.items():
            seen.clear()
            counting[0] = True
            response = client.get(path)
            counting[0] = False
            if response.status_code != 200:
                raise RuntimeError(f"{path} answered {response.status_code} in-process")
            counts[name] = len(seen)
        return counts
    finally:
        engine.dispose()


# ---- the run


@contextmanager
def bench_schema(base_url: str, keep: bool) -> Iterator[str]:
    name = f"bench_{secrets.token_hex(4)}"
    admin = sa.create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{name}"')
    try:
        yield sa.make_url(base_url).update_query_dict({"options": f"-csearch_path={name}"}).render_as_string(
            hide_password=False)
    finally:
        if keep:
            print(f"kept schema {name}", file=sys.stderr)
        else:
            with admin.connect() as connection:
                connection.exec_driver_sql(f'DROP SCHEMA "{name}" CASCADE')
        admin.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=int, default=5, help="load per endpoint and round (default 5)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over every endpoint (default 3): medians")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections (default 8)")
    parser.add_argument("--sign-in-threads", type=int, default=8)
    parser.add_argument("--keep", action="store_true", help="keep the schema afterwards")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("the benchmark needs wrk: apt-get install -y wrk")
    from aiosmtpd.controller import Controller

    base_url = os.environ.get("PORTAL_BENCH_DATABASE_URL") or os.environ.get("PORTAL_TEST_DATABASE_URL") or DEFAULT_URL
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="portal-bench-") as tmp_name, bench_schema(base_url, args.keep) as url:
        tmp = Path(tmp_name)
        upgrade(url)
        started = time.monotonic()
        rows = seed(url, tmp / "files")
        seed_seconds = time.monotonic() - started
        print(f"seeded {sum(rows.values()):,} rows in {seed_seconds:.0f} s: {rows}", file=sys.stderr)

        mailbox = Mailbox()
        smtp_port = _free_port()
        controller = Controller(mailbox, hostname="127.0.0.1", port=smtp_port)
        controller.start()
        portal_port, floor_port, flask_port = _free_port(), _free_port(), _free_port()
        base = f"http://127.0.0.1:{portal_port}"
        floor = f"http://127.0.0.1:{floor_port}"
        flask_floor = f"http://127.0.0.1:{flask_port}/floor/{_id('i', INVOICES // 2)}"
        secret = secrets.token_urlsafe(32)
        os.environ["PORTAL_SECRET_KEY"] = secret
        env = {"PORTAL_DATABASE_URL": url, "PORTAL_SECRET_KEY": secret, "PORTAL_BASE_URL": base,
               "PORTAL_EMAIL_URL": f"smtp://127.0.0.1:{smtp_port}", "PORTAL_EMAIL_FROM": "portal@falcon.example",
               "PORTAL_FILE_DIR": str(tmp / "files"), "PORTAL_LOGIN_IP_LIMIT": "1000000",
               "BENCH_DATABASE_URL": url}
        portal_cmd = [sys.executable, "-m", "entrypoints.cli", "serve", "--host", "127.0.0.1", "--port",
                      str(portal_port), "--workers", "2"]
        # The floor runs under the same gunicorn settings as `portal serve` (see entrypoints/server.py).
        gunicorn = [sys.executable, "-m", "gunicorn", "--chdir", str(HERE), "--workers", "2", "--worker-class",
                    "gthread", "--threads", "4", "--reuse-port", "--log-level", "warning"]
        floor_cmd = [*gunicorn, "--bind", f"127.0.0.1:{floor_port}", "floor:app"]
        flask_cmd = [*gunicorn, "--bind", f"127.0.0.1:{flask_port}", "flask_floor:app"]
        try:
            with _process(portal_cmd, env, tmp / "portal.log", base + "/readyz") as portal, \
                    _process(floor_cmd, env, tmp / "floor.log", floor + "/p/" + _token(0)), \
                    _process(flask_cmd, env, tmp / "flask.log", flask_floor) as flask:
                client = sign_in(base, _token(0), "contact0@c0.example", mailbox)
                cookie_name = "portal_session"
                cookie = f"{cookie_name}={client.cookies[cookie_name]}"
                big = f"/p/{_token(0)}"
                paths = {"home": f"{big}/", "invoice list": f"{big}/invoices",
                         "invoice detail": f"{big}/invoices/{_id('i', 0)}", "quote list": f"{big}/quotes",
                         "job list": f"{big}/jobs", "file list": f"{big}/files",
                         "file download": f"{big}/files/{_id('f', 1)}/download"}
                counts = statement_counts(url, paths, (cookie_name, client.cookies[cookie_name]), tmp / "files")
                rounds: list[dict[str, dict[str, float]]] = []
                pages = [(name, base + path, cookie) for name, path in paths.items()]
                targets = [(FLASK_FLOOR, flask_floor, None), *pages, (WSGI_FLOOR, floor + "/p/" + _token(0), None)]
                workers_of = {name: _workers(portal.pid) for name in paths} | {FLASK_FLOOR: _workers(flask.pid)}
                for number in range(args.rounds):
                    # Every endpoint once a round, the Flask floor first in each: the machine's speed drifts within
                    # minutes, so each page is compared with the floor of its own round, and the medians reported.
                    measured: dict[str, dict[str, float]] = {}
                    for name, target, with_cookie in targets:
                        if number == 0:
                            wrk(target, 2, connections=args.connections, cookie=with_cookie)  # warm-up
                        def load(target: str = target, with_cookie: str | None = with_cookie) -> dict[str, float]:
                            return wrk(target, args.seconds, connections=args.connections, cookie=with_cookie)

                        measured[name] = _busier_share(workers_of[name], load) if name in workers_of else load()
                    measured[SIGN_IN] = _cpu_per_sign_in(
                        [portal.pid, *_workers(portal.pid)],
                        lambda: sign_in_rate(base, mailbox, args.seconds, args.sign_in_threads))
                    figures = ", ".join(f"{name} {r['rps']:.0f}/s" + (" (one worker)" if r.get(
                        "busier_worker_share", 0) > ONE_WORKER else "") for name, r in measured.items())
                    print(f"round {number + 1}: {figures}", file=sys.stderr)
                    rounds.append(measured)
                rss = [_peak_rss_mb(pid) for pid in _workers(portal.pid)]
        finally:
            controller.stop()
    total = time.monotonic() - began
    results = {name: {key: statistics.median(r[name][key] for r in rounds) for key in rounds[0][name]}
               for name in rounds[0]}
    fractions = {name: statistics.median(r[name]["rps"] / r[FLASK_FLOOR]["rps"] for r in rounds) for name in results}
    report = _report(results, fractions, counts, rss, rows, seed_seconds, total, args, rounds)
    print(report)
    if args.json:
        args.json.write_text(json.dumps({"results": results, "statements": counts, "worker_peak_rss_mb": rss,
                                         "fraction_of_flask_floor": fractions, "rounds": rounds,
                                         "rows": rows, "seed_seconds": seed_seconds, "total_seconds": total},
                                        indent=2))
    return 0


FLASK_FLOOR = "flask floor"
ONE_WORKER = 0.9  # the busier worker's share of the CPU time above which a measurement is marked "(one worker)"
WSGI_FLOOR = "floor (one indexed query)"
SIGN_IN = "sign-in (request code + verify)"


def _report(results: dict[str, dict[str, float]], fractions: dict[str, float], counts: dict[str, int],
            rss: list[float], rows: dict[str, int], seed_seconds: float, total: float, args: argparse.Namespace,
            rounds: list[dict[str, dict[str, float]]]) -> str:
    lines = [
        f"Seeded {sum(rows.values()):,} rows in {seed_seconds:.0f} s; whole run {total:.0f} s. "
        f"Load: wrk, 2 threads, {args.connections} connections, {args.seconds} s per endpoint in each of "
        f"{args.rounds} rounds (medians; the share of the Flask floor is the median of each round's ratio); "
        f"sign-in: {args.sign_in_threads} threads for {args.seconds} s a round.",
        "",
        "| endpoint | requests/s | of the Flask floor | p50 ms | p95 ms | p99 ms | errors | SQL statements |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        statements = str(counts.get(name, "1" if name in (FLASK_FLOOR, WSGI_FLOOR) else "—"))
        share = f"{fractions[name]:.0%}" if name in fractions else "—"
        lines.append(f"| {name} | {r['rps']:.0f} | {share} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | "
                     f"{r['p99_ms']:.1f} | {r['errors']:.0f} | {statements} |")
    lines += ["", f"Peak RSS of the gunicorn workers (VmHWM): {', '.join(f'{m:.0f} MB' for m in rss)}; "
                  f"median {statistics.median(rss):.0f} MB." if rss else "No worker RSS read."]
    signing = results.get(SIGN_IN, {})
    if "portal_cpu_ms" in signing:
        lines += ["", f"CPU per complete sign-in (medians): the portal {signing['portal_cpu_ms']:.1f} ms (workers, "
                      f"mail dispatch included), PostgreSQL {signing['postgres_cpu_ms']:.1f} ms, and the benchmark's "
                      f"own driver and SMTP sink {signing['driver_cpu_ms']:.1f} ms, on the same two cores."]
    lopsided = [f"{name} (round {n + 1})" for n, r in enumerate(rounds) for name, figures in r.items()
                if figures.get("busier_worker_share", 0) > ONE_WORKER]
    if lopsided:
        lines += ["", f"Measured on one worker of two (wrk's {args.connections} keep-alive connections all on "
                      f"one gunicorn worker; its rate is about half the balanced one): {', '.join(lopsided)}."]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
