"""The schema status of the in-memory store: it has no migrations, so it is always current."""

from __future__ import annotations

IN_MEMORY_REVISION = "in-memory"


class InMemorySchemaStatus:
    def __init__(self, *, current: str | None = IN_MEMORY_REVISION) -> None:
        self.current = current  # a test may set None or another value to play an unmigrated database

    def current_revision(self) -> str | None:
        return self.current

    def expected_revision(self) -> str:
        return IN_MEMORY_REVISION
