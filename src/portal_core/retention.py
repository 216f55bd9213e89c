"""Retention: what the portal keeps, for how long, and the pruning that deletes the rest (`portal prune`).

Everything a stranger can make the portal write (throttle rows, codes, audit entries of failed sign-ins) is
bounded per address by the sign-in limits and deleted here once it is past any use. Pruning never touches a live
code or session, and each kind is deleted in a short transaction of its own, so it is safe while the portal serves.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import attrs

from portal_core.ports import Clock, Progress, UnitOfWork
from portal_core.sign_in import SignInPolicy

# Codes live 10 minutes; a day later they are of no use, not even to read back the sign-in that used one.
CODE_RETENTION = dt.timedelta(days=1)
SESSION_RETENTION = dt.timedelta(days=30)  # after a session ended, however it ended
THROTTLE_WINDOW = dt.timedelta(hours=1)  # the longest window any limit counts over
PROCESSED_EVENT_RETENTION = dt.timedelta(days=90)  # providers stop retrying a webhook after a few days
SENT_MAIL_RETENTION = dt.timedelta(days=30)  # sent messages; pending and failed ones stay until dealt with
WEBHOOK_DELIVERY_RETENTION = dt.timedelta(days=30)  # made (or given up) deliveries; their webhook keeps none longer
DEFAULT_AUDIT_RETENTION_DAYS = 365


@attrs.frozen(kw_only=True)
class RetentionPolicy:
    audit: dt.timedelta = dt.timedelta(days=DEFAULT_AUDIT_RETENTION_DAYS)
    codes: dt.timedelta = CODE_RETENTION
    sessions: dt.timedelta = SESSION_RETENTION
    throttles: dt.timedelta = THROTTLE_WINDOW
    processed_events: dt.timedelta = PROCESSED_EVENT_RETENTION
    sent_mail: dt.timedelta = SENT_MAIL_RETENTION
    webhook_deliveries: dt.timedelta = WEBHOOK_DELIVERY_RETENTION


def prune(uow: UnitOfWork, *, clock: Clock, sign_in_policy: SignInPolicy, retention: RetentionPolicy,
          progress: Progress | None = None) -> list[tuple[str, int]]:
    """Deletes what has expired, a transaction per kind; returns (kind, rows removed) for every kind, in a fixed
    order. `progress` is told of each kind done."""
    now = clock.now()
    steps: list[tuple[str, Callable[[], int]]] = [
        ("one-time codes", lambda: uow.codes.prune(now - retention.codes)),
        ("sessions", lambda: uow.sessions.prune(now - retention.sessions, idle=sign_in_policy.idle_timeout,
                                                absolute=sign_in_policy.absolute_lifetime)),
        ("throttle records", lambda: uow.login_requests.prune(now - retention.throttles)),
        ("processed payment events", lambda: uow.processed_events.prune(now - retention.processed_events)),
        ("audit entries", lambda: uow.audit.prune(now - retention.audit)),
        ("sent mail", lambda: uow.outbox.prune(now - retention.sent_mail)),
        ("webhook deliveries", lambda: uow.webhook_deliveries.prune(now - retention.webhook_deliveries)),
    ]
    removed: list[tuple[str, int]] = []
    for kind, step in steps:
        with uow:
            count = step()
            uow.commit()
        removed.append((kind, count))
        if progress is not None:
            progress(len(removed), len(steps))
    return removed
