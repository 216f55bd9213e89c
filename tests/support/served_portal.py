"""`portal serve` (gunicorn, N worker processes) as a subprocess on a free loopback port, for tests that need real
processes sharing one database."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import requests

from tests.support.smtp import free_port


def portal_command() -> list[str]:
    found = shutil.which("portal", path=str(Path(sys.executable).parent))
    return [found] if found else [sys.executable, "-m", "entrypoints.cli"]


@contextmanager
def served_portal(env: Mapping[str, str], *, workers: int, log_path: Path) -> Iterator[str]:
    """Yields the base URL once /healthz answers; stops the whole process group afterwards."""
    with served_portal_process(env, workers=workers, log_path=log_path) as (base_url, _process):
        yield base_url


@contextmanager
def served_portal_process(env: Mapping[str, str], *, workers: int, log_path: Path,
                          port: int | None = None) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """served_portal, yielding the process too (a fault test may kill its group with SIGKILL)."""
    port = port or free_port()
    base_url = f"http://127.0.0.1:{port}"
    full_env = {**os.environ, **env, "PORTAL_BASE_URL": base_url, "PYTHONUNBUFFERED": "1"}
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [*portal_command(), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
            env=full_env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise AssertionError(f"portal serve exited with {process.returncode}:\n{log_path.read_text()}")
            try:
                if requests.get(base_url + "/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"portal serve did not answer within 30 s:\n{log_path.read_text()}")
            time.sleep(0.1)
        yield base_url, process
    finally:
        if process.poll() is None:  # a fault test may have killed it already
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)


def gunicorn_workers(master: int) -> set[int]:
    """The master's child processes (gunicorn's workers), from /proc."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == master:  # the field after the state is the parent's pid
            found.add(int(entry.name))
    return found


def wait_for_new_workers(master: int, old: set[int], count: int) -> set[int]:
    """The master's workers once there are `count` of them and none of `old` is left."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        current = gunicorn_workers(master)
        if len(current) == count and not current & old:
            return current
        time.sleep(0.1)
    raise AssertionError(f"gunicorn did not replace its workers {old}: {gunicorn_workers(master)}")
