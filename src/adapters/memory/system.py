"""A clock that only moves when told, and repeatable randomness, for tests."""

from __future__ import annotations

import datetime as dt
import random


class FixedClock:
    def __init__(self, now: dt.datetime | None = None) -> None:
        self._now = now or dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
        if self._now.tzinfo is None:
            raise ValueError("the clock keeps timezone-aware UTC times")

    def now(self) -> dt.datetime:
        return self._now

    def advance(self, **delta: float) -> None:
        self._now += dt.timedelta(**delta)

    def set(self, now: dt.datetime) -> None:
        self._now = now


class SeededRandomness:
    """Deterministic randomness for tests; never use outside them."""

    _ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

    def __init__(self, seed: int = 0) -> None:
        self._random = random.Random(seed)

    def token(self, nbytes: int) -> str:
        length = (nbytes * 8 + 5) // 6
        return "".join(self._random.choice(self._ALPHABET) for _ in range(length))

    def digits(self, count: int) -> str:
        return "".join(self._random.choice("0123456789") for _ in range(count))
