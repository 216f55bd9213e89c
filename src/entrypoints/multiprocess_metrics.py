"""Prometheus's multiprocess mode for `portal serve`: a folder where every gunicorn worker writes its metrics, and
the hook that tells it a worker has gone (docs/adr/0011-metrics.md)."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from typing import Any

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"


def use_multiprocess_metrics() -> str:
    """Points PROMETHEUS_MULTIPROC_DIR at a fresh, empty folder, removed when this process exits, unless the
    operator chose one (kept as it is). Call it before prometheus_client is imported and before gunicorn forks:
    the workers inherit the variable. Returns the folder."""
    chosen = os.environ.get(MULTIPROCESS_DIR)
    if chosen:
        os.makedirs(chosen, exist_ok=True)
        return chosen
    folder = tempfile.mkdtemp(prefix="portal-metrics-")
    os.environ[MULTIPROCESS_DIR] = folder
    owner = os.getpid()

    def _remove() -> None:
        if os.getpid() == owner:  # a worker leaving runs this too (it is a fork): only the master removes it
            shutil.rmtree(folder, ignore_errors=True)

    atexit.register(_remove)
    return folder


def child_exit(_server: Any, worker: Any) -> None:
    """gunicorn's child_exit hook, in the master: drops the gone worker's live gauges (its counts stay counted)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
