"""A CRM's webhook endpoint on loopback, for the tests: a real HTTP server that records every POST (its headers and
raw body) and answers from a script (a status, or a delay longer than the portal waits), and that can be stopped
and started again on the same port."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import attrs


@attrs.frozen
class Call:
    path: str
    headers: dict[str, str]
    body: bytes


class WebhookReceiver:
    def __init__(self, port: int = 0) -> None:
        self.calls: list[Call] = []
        # An int: answer that status; a float: wait that long, then 200; "trickle": the status line a byte at a time,
        # a byte every 0.1 s (a receiver that is slow without ever falling silent for long).
        self.script: list[int | float | str] = []
        self._lock = threading.Lock()
        self._port = port
        self._server: ThreadingHTTPServer | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}/hooks/portal?token=crm-side"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the standard library's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._lock:
                    receiver.calls.append(Call(self.path, {k: v for k, v in self.headers.items()}, body))
                    answer = receiver.script.pop(0) if receiver.script else 200
                if answer == "trickle":
                    try:
                        for byte in b"HTTP/1.1 200 OK\r\nX-Padding: " + b"." * 40 + b"\r\n\r\n":
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                            time.sleep(0.1)
                    except OSError:
                        pass  # the portal hung up: as it should
                    return
                if isinstance(answer, float):
                    time.sleep(answer)
                    answer = 200
                assert isinstance(answer, int)
                try:
                    self.send_response(answer)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass  # the portal reads the status and hangs up; it need not wait for the rest

            def log_message(self, *_args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self._port), Handler)
        server.daemon_threads = True
        self._port = server.server_address[1]
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self._server = server

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def wait_for(self, count: int, within: float = 20.0) -> list[Call]:
        deadline = time.monotonic() + within
        while len(self.calls) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.calls)

    def __enter__(self) -> WebhookReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
