"""Client companies and their portal access: the toggle and the shareable, rotatable link token."""

from __future__ import annotations

import attrs

from portal_core.errors import InvalidInput

LINK_TOKEN_BYTES = 24  # 192 bits: unguessable, and short enough to paste


@attrs.define(kw_only=True)
class Company:
    id: str
    name: str = attrs.field()
    link_token: str = attrs.field()
    portal_enabled: bool = False
    ref: str | None = None
    # Grows each time access is turned off: a session remembers the generation it was opened under, so a session
    # from before the latest "off" stays dead when access is turned back on.
    access_generation: int = 0

    def set_access(self, enabled: bool) -> None:
        if self.portal_enabled and not enabled:
            self.access_generation += 1
        self.portal_enabled = enabled

    @name.validator
    def _name(self, _attribute: object, value: str) -> None:
        if not value.strip():
            raise InvalidInput("a company needs a name")

    @link_token.validator
    def _token(self, _attribute: object, value: str) -> None:
        if len(value) < 22:  # 22 url-safe characters carry 132 bits
            raise InvalidInput("a portal link token must carry at least 128 bits")
