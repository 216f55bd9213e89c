"""Opaque public ids: random, url-safe, never sequential, so an id says nothing about other records."""

from __future__ import annotations

from portal_core.ports import Randomness

ID_BYTES = 12  # 96 bits, 16 characters


def command_line_safe(token: str) -> str:
    """A leading '-' would make an id read as an option on the command line (`portal file detach -x...`)."""
    return "_" + token[1:] if token.startswith("-") else token


def new_id(randomness: Randomness) -> str:
    return command_line_safe(randomness.token(ID_BYTES))
