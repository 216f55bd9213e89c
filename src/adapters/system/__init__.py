"""The real clock and the operating system's secure randomness."""

from __future__ import annotations

import datetime as dt
import secrets


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


class SecretsRandomness:
    def token(self, nbytes: int) -> str:
        return secrets.token_urlsafe(nbytes)

    def digits(self, count: int) -> str:
        return "".join(secrets.choice("0123456789") for _ in range(count))
