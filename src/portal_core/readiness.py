"""Readiness for load balancers: the database answers and is migrated to the schema this code expects."""

from __future__ import annotations

import attrs

from portal_core.errors import DatabaseUnavailable
from portal_core.ports import SchemaStatus


@attrs.frozen(kw_only=True)
class Readiness:
    ready: bool
    # Says why not, for whoever reads the load balancer's probe; it names no host, user or password.
    reason: str


def check_readiness(schema: SchemaStatus) -> Readiness:
    """Never raises: an unreachable database is simply not ready."""
    try:
        current = schema.current_revision()
    except DatabaseUnavailable:
        return Readiness(ready=False, reason="the database cannot be reached")
    expected = schema.expected_revision()
    if current != expected:
        return Readiness(ready=False, reason=f"the database schema is at {current or 'no revision'}, this code "
                                             f"needs {expected}: run `portal db upgrade`")
    return Readiness(ready=True, reason="ready")
