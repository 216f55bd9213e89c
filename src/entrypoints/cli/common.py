"""What every `portal` command shares: its services, built one way, and the error that is bad usage."""

from __future__ import annotations

import json
from pathlib import Path

from entrypoints.bootstrap import Services, build_services
from entrypoints.settings import Settings


class UsageError(Exception):
    """Bad command-line usage; reported in one line with exit status 2."""


def services(settings: Settings) -> Services:
    """The portal's services for one command, from the settings (the environment)."""
    return build_services(settings)


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
