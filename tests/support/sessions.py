"""A SessionStore rule every adapter keeps, as one scenario: an update never reopens an ended session."""

from __future__ import annotations

import datetime as dt

from portal_core.ports import UnitOfWork


def check_a_stale_update_keeps_the_sign_out(uow: UnitOfWork, session_id: str, now: dt.datetime) -> None:
    """The interleaving of a page request and a sign-out in another tab, over a stored live session: the page reads
    the session (its last-seen time is due), the sign-out ends it and commits, then the page records the last-seen
    time and commits. The session stays ended, with the page's last-seen time."""
    with uow:
        seen_by_the_page = uow.sessions.get(session_id)
    assert seen_by_the_page is not None and seen_by_the_page.ended_at is None
    with uow:
        signing_out = uow.sessions.get(session_id)
        assert signing_out is not None
        signing_out.end(now + dt.timedelta(minutes=2))
        uow.sessions.update(signing_out)
        uow.commit()
    with uow:
        seen_by_the_page.last_seen_at = now + dt.timedelta(minutes=3)
        uow.sessions.update(seen_by_the_page)
        uow.commit()
    with uow:
        stored = uow.sessions.get(session_id)
    assert stored is not None and stored.ended_at == now + dt.timedelta(minutes=2)
    assert stored.last_seen_at == now + dt.timedelta(minutes=3)
