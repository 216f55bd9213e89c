"""Opaque public ids: random, url-safe, never sequential, so an id says nothing about other records."""

from __future__ import annotations

from portal_core.ports import Randomness

ID_BYTES = 12  # 96 bits, 16 characters


def new_id(randomness: Randomness) -> str:
    return randomness.token(ID_BYTES)
