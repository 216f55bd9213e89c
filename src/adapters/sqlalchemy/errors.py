"""Translates what the database driver raises into the portal's own errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from portal_core.errors import Conflict, DatabaseUnavailable

UNAVAILABLE_MESSAGE = "The database cannot be reached right now; please try again in a moment."


@contextmanager
def database_errors() -> Iterator[None]:
    """Raises DatabaseUnavailable for an unreachable, dropped, locked or exhausted database; Conflict for a clash.

    Constraint violations become Conflict, so the core can tell a lost race from a failure.
    """
    try:
        yield
    except sa.exc.IntegrityError as error:
        raise Conflict("the change clashes with a stored record") from error
    except sa.exc.DBAPIError as error:
        if isinstance(error, sa.exc.OperationalError | sa.exc.InterfaceError) or error.connection_invalidated:
            raise DatabaseUnavailable(UNAVAILABLE_MESSAGE) from error
        raise
    except sa.exc.TimeoutError as error:  # no free connection in the pool
        raise DatabaseUnavailable(UNAVAILABLE_MESSAGE) from error
