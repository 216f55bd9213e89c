"""Runs the web portal: gunicorn with N worker processes in production, Flask's development server with --dev."""

from __future__ import annotations

import errno
import logging
import socket
import sys
from typing import Any

from entrypoints.settings import ConfigurationError, Settings

LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"


def ensure_port_free(host: str, port: int) -> None:
    """Fails at once, in one line, when the address is taken (gunicorn would retry for seconds and print its own
    errors). Raises ConfigurationError."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror:
        raise ConfigurationError(f"cannot listen on {host}: no such address (choose another with --host)") from None
    family, kind, proto, _name, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn does: TIME_WAIT is no conflict
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ConfigurationError(f"port {port} on {host} is already in use; choose another with --port") \
                    from None
            raise ConfigurationError(f"cannot listen on {host}:{port} ({exc.strerror}); "
                                     "choose another with --port") from None


def configure_logging() -> None:
    """The portal's own log lines (portal.*) go to stderr as 'LEVEL logger: message', INFO and above."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    portal = logging.getLogger("portal")
    portal.handlers[:] = [handler]
    portal.setLevel(logging.INFO)
    portal.propagate = False


def serve(settings: Settings, *, host: str, port: int, workers: int = 2, dev: bool = False) -> None:
    from entrypoints.multiprocess_metrics import child_exit, use_multiprocess_metrics

    if not dev:
        use_multiprocess_metrics()  # before the app, its metrics and the fork: every worker counts into one folder
    from entrypoints.web import create_app

    configure_logging()
    if dev:
        create_app(settings).run(host=host, port=port, debug=False, use_reloader=False, threaded=True)
        return
    from gunicorn.app.base import BaseApplication

    class _Gunicorn(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            options: dict[str, Any] = {
                "bind": f"{host}:{port}", "workers": max(1, workers), "worker_class": "gthread", "threads": 4,
                "timeout": 60, "graceful_timeout": 10, "accesslog": None, "errorlog": "-", "loglevel": "warning",
                "child_exit": child_exit,
                # Every worker listens on a socket of its own (SO_REUSEPORT) and the kernel shares new connections
                # out among them: on one shared socket whichever worker woke first accepted a burst of keep-alive
                # connections, and one worker served them all while the other idled (docs/adr/0018).
                "reuse_port": True,
            }
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            # Built in each worker after the fork: every worker has its own pool and mail thread.
            return create_app(settings)

    _Gunicorn().run()
