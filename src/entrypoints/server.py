"""Runs the web portal: gunicorn with N worker processes in production, Flask's development server with --dev."""

from __future__ import annotations

from typing import Any

from entrypoints.settings import Settings


def serve(settings: Settings, *, host: str, port: int, workers: int = 2, dev: bool = False) -> None:
    from entrypoints.web import create_app

    if dev:
        create_app(settings).run(host=host, port=port, debug=False, use_reloader=False, threaded=True)
        return
    from gunicorn.app.base import BaseApplication

    class _Gunicorn(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            options: dict[str, Any] = {
                "bind": f"{host}:{port}", "workers": max(1, workers), "worker_class": "gthread", "threads": 4,
                "timeout": 60, "graceful_timeout": 10, "accesslog": None, "errorlog": "-", "loglevel": "warning",
            }
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            # Built in each worker after the fork: every worker has its own pool and mail thread.
            return create_app(settings)

    _Gunicorn().run()
