"""A TCP proxy on loopback in front of a real server (PostgreSQL), which a test can cut and restore: the database
"goes away" for the app behind the proxy while the shared server keeps running for everyone else."""

from __future__ import annotations

import enum
import select
import socket
import threading
from typing import Any

import sqlalchemy as sa


class Mode(enum.Enum):
    UP = "up"
    DOWN = "down"  # every connection is dropped at once (a restarted or crashed server)
    SILENT = "silent"  # new connections are accepted and never answered (a server that does not respond)


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.mode = Mode.UP
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @classmethod
    def in_front_of(cls, url: str) -> TcpProxy:
        parsed = sa.make_url(url)
        return cls(parsed.host or "127.0.0.1", parsed.port or 5432)

    def url_for(self, url: str) -> str:
        """The same database URL, through the proxy."""
        return sa.make_url(url).set(host="127.0.0.1", port=self.port).render_as_string(hide_password=False)

    def __enter__(self) -> TcpProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopped.set()
        self._listener.close()
        self._drop_all()
        self._thread.join(5)

    def cut(self) -> None:
        """The database goes away: live connections are reset, new ones are closed as soon as they arrive."""
        self.mode = Mode.DOWN
        self._drop_all()

    def silence(self) -> None:
        """The database stops answering: live connections are reset, new ones hang unanswered."""
        self.mode = Mode.SILENT
        self._drop_all()

    def restore(self) -> None:
        self.mode = Mode.UP

    def _drop_all(self) -> None:
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                sock.close()  # linger 0: an RST, as a crashed server's kernel would send
            except OSError:
                pass

    def _track(self, *sockets: socket.socket) -> None:
        with self._lock:
            self._sockets.update(sockets)

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.mode is Mode.DOWN:
                client.close()
                continue
            if self.mode is Mode.SILENT:
                self._track(client)  # held open, never answered, dropped by the next cut/silence or at exit
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            self._track(client, upstream)
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        peers: dict[Any, socket.socket] = {a: b, b: a}
        try:
            while True:
                readable, _, _ = select.select(list(peers), [], [], 1.0)
                if self._stopped.is_set():
                    return
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    peers[sock].sendall(data)
        except (OSError, ValueError):
            return
        finally:
            for sock in (a, b):
                try:
                    sock.close()
                except OSError:
                    pass
