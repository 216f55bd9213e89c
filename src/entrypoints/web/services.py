"""What the web's views reach through the running app: the portal's services and this process's mail dispatcher,
kept in `app.extensions` under these keys by create_app. Blueprints import these accessors from here, never from
app.py, so that app.py can import every blueprint at the top without an import circle."""

from __future__ import annotations

from flask import current_app

from entrypoints.bootstrap import Services
from entrypoints.mail_dispatcher import Dispatcher

SERVICES = "portal"
MAIL = "portal.mail"


def portal_services() -> Services:
    return current_app.extensions[SERVICES]  # type: ignore[no-any-return]


def mail() -> Dispatcher:
    """This process's mail dispatcher: nudge it with the outbox ids a request queued, after the commit."""
    return current_app.extensions[MAIL]  # type: ignore[no-any-return]
