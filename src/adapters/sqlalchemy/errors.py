"""Translates what the database driver raises into the portal's own errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from portal_core.errors import DatabaseUnavailable

UNAVAILABLE_MESSAGE = "The database cannot be reached right now; please try again in a moment."


@contextmanager
def database_errors() -> Iterator[None]:
    """Raises DatabaseUnavailable for an unreachable, dropped, locked or exhausted database; the rest propagates.

    Constraint violations are not translated: they are bugs or races the caller should see as they are.
    """
    try:
        yield
    except sa.exc.DBAPIError as error:
        if isinstance(error, sa.exc.OperationalError | sa.exc.InterfaceError) or error.connection_invalidated:
            raise DatabaseUnavailable(UNAVAILABLE_MESSAGE) from error
        raise
    except sa.exc.TimeoutError as error:  # no free connection in the pool
        raise DatabaseUnavailable(UNAVAILABLE_MESSAGE) from error
