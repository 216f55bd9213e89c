"""`portal serve`'s listening sockets: every worker has its own (SO_REUSEPORT), so the kernel shares a burst of
keep-alive connections out among the workers instead of one worker accepting them all; and a second server on a
taken port still fails at once instead of quietly sharing it (docs/adr/0018-a-socket-per-worker.md)."""

from __future__ import annotations

import http.client
import os
import secrets
import subprocess
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

import pytest
import requests

from adapters.sqlalchemy.migrate import upgrade
from tests.support.served_portal import portal_command, served_portal_process, wait_for_new_workers

pytestmark = pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads sockets through /proc")

LISTEN, ESTABLISHED = "0A", "01"


def _sockets_on(port: int, state: str) -> set[int]:
    """Inodes of the IPv4 TCP sockets whose local port is `port`, in `state` (/proc/net/tcp's hex codes)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == state:
            found.add(int(fields[9]))
    return found


def _holders(pids: set[int], inodes: set[int]) -> Counter[int]:
    """How many of `inodes` each process holds open."""
    held: Counter[int] = Counter()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and int(target[8:-1]) in inodes:
                held[pid] += 1
    return held


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    url = f"sqlite:///{tmp_path / 'portal.db'}"
    upgrade(url)
    return {"PORTAL_DATABASE_URL": url, "PORTAL_SECRET_KEY": secrets.token_urlsafe(32),
            "PORTAL_EMAIL_URL": "console://", "PORTAL_FILE_DIR": str(tmp_path / "files")}


def test_each_worker_listens_on_its_own_socket_and_a_burst_of_connections_reaches_both(
        env: dict[str, str], tmp_path: Path) -> None:
    with served_portal_process(env, workers=2, log_path=tmp_path / "serve.log") as (base_url, process):
        port = int(base_url.rsplit(":", 1)[1])
        workers = wait_for_new_workers(process.pid, set(), 2)
        listening = _holders(workers, _sockets_on(port, LISTEN))
        assert sorted(listening.values()) == [1, 1], f"each worker holds one listening socket: {listening}"
        assert len(_sockets_on(port, LISTEN)) == 2, "one socket each, not one shared by both"

        # Sixteen keep-alive connections opened at once, as a load generator or a proxy's pool opens them.
        with ExitStack() as stack:
            connections = []
            for _ in range(16):
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                stack.callback(connection.close)
                connection.connect()
                connections.append(connection)
            for connection in connections:
                connection.request("GET", "/healthz")
                response = connection.getresponse()
                response.read()
                assert response.status == 200 and not response.will_close
            served = _holders(workers, _sockets_on(port, ESTABLISHED))
            assert sum(served.values()) == 16
            # With the kernel's hash over the connections' addresses, all sixteen on one worker has odds of
            # 2 in 65,536; with one shared socket, the first worker to wake took the whole burst.
            assert len(served) == 2, f"every connection went to one worker: {served}"


def test_a_second_server_on_a_taken_port_fails_at_once_and_the_first_keeps_serving(
        env: dict[str, str], tmp_path: Path) -> None:
    with served_portal_process(env, workers=2, log_path=tmp_path / "serve.log") as (base_url, _process):
        port = base_url.rsplit(":", 1)[1]
        second = subprocess.run(
            [*portal_command(), "serve", "--host", "127.0.0.1", "--port", port, "--workers", "2"],
            env={**os.environ, **env, "PORTAL_BASE_URL": base_url}, capture_output=True, text=True, timeout=30)
        assert second.returncode == 2
        assert second.stderr.strip().splitlines() == [f"error: port {port} on 127.0.0.1 is already in use; "
                                                      "choose another with --port"]
        assert requests.get(base_url + "/healthz", timeout=10).status_code == 200
