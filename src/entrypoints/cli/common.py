"""What every `portal` command shares: its services, built one way, and the error that is bad usage."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

from entrypoints.bootstrap import Services, services_for
from entrypoints.settings import Settings


class UsageError(Exception):
    """Bad command-line usage; reported in one line with exit status 2."""


def services(settings: Settings) -> Services:
    """The portal's services for one command, from the settings (the environment): the embedder's, when `--app` or
    PORTAL_APP names a MODULE:CALLABLE that builds them (bootstrap.services_for), else the bundled portal's."""
    return services_for(settings)  # a PORTAL_APP that names nothing: AppNotFound, one line and status 2


def read_json(path: str) -> object:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON document (for scripts) instead of lines")


def print_json(document: dict[str, object]) -> None:
    """One JSON document on stdout: times in ISO 8601 with their offset, dates as YYYY-MM-DD."""
    print(json.dumps(document, ensure_ascii=False, indent=2, default=_iso))


def _iso(value: object) -> str:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")


class ProgressBar:
    """A use case's `progress`: a bar on stderr, redrawn in place, when stderr is a terminal (a person is watching);
    silent otherwise, so logs and pipes get no control characters. Use it as `with ProgressBar("seeding") as bar:`."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.shown = sys.stderr.isatty()
        self.drawn = False

    def __call__(self, done: int, total: int) -> None:
        if not self.shown:
            return
        filled = 30 * done // total if total > 0 else 30
        print(f"\r{self.what} [{'#' * filled}{'.' * (30 - filled)}] {done}/{total}", end="", file=sys.stderr,
              flush=True)
        self.drawn = True

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.drawn:  # end the bar's line, so what follows starts on a line of its own
            print(file=sys.stderr, flush=True)
