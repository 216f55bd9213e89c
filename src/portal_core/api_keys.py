"""API keys for the business-side API: created and revoked by staff (the `portal api-key` command), presented by a
CRM as `Authorization: Bearer <key>`. A key is stored only as an HMAC-SHA-256 under a key derived from the portal's
secret, so checking one is a single indexed lookup (no slow password hash: the key is 32 random bytes, not a
password), and a copy of the table opens nothing."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re

import attrs

from portal_core.errors import Conflict, InvalidInput, NotAuthenticated, NotFound, Throttled
from portal_core.ids import new_id
from portal_core.model.api_key import ApiKey
from portal_core.ports import Clock, Randomness, UnitOfWork

KEY_PREFIX = "pk_"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# last_used_at is written at most this often per key: a busy CRM does not turn every read into a write of it.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)
RATE_WINDOW = dt.timedelta(minutes=1)


@attrs.frozen
class ApiKeySecrets:
    key: bytes

    @classmethod
    def from_secret(cls, secret: str) -> ApiKeySecrets:
        return cls(hmac.new(secret.encode(), b"portal api keys v1", hashlib.sha256).digest())

    def hash(self, presented: str) -> str:
        return hmac.new(self.key, presented.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def _check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise InvalidInput(f"an API key's name is 1 to 64 letters, digits, '.', '_' or '-', not {name!r}")
    return name


def create_key(uow: UnitOfWork, *, secrets: ApiKeySecrets, randomness: Randomness, clock: Clock,
               name: str) -> str:
    """A new key under `name`; returns the key itself, the only time it exists outside the caller's hands."""
    _check_name(name)
    key = KEY_PREFIX + randomness.token(32)
    with uow:
        if any(k.name == name and k.live for k in uow.api_keys.list()):
            raise Conflict(f"an API key named {name!r} exists; revoke it first, or choose another name")
        uow.api_keys.add(ApiKey(id=new_id(randomness), name=name, key_hash=secrets.hash(key),
                                created_at=clock.now()))
        uow.commit()
    return key


def list_keys(uow: UnitOfWork) -> list[ApiKey]:
    with uow:
        return uow.api_keys.list()


def revoke_key(uow: UnitOfWork, *, clock: Clock, name: str) -> ApiKey:
    with uow:
        live = [k for k in uow.api_keys.list() if k.name == name and k.live]
        if not live:
            raise NotFound(f"no live API key is named {name!r}")
        for key in live:
            key.revoked_at = clock.now()
            uow.api_keys.update(key)
        uow.commit()
    return live[0]


def authenticate(uow: UnitOfWork, *, secrets: ApiKeySecrets, clock: Clock, presented: str | None,
                 per_minute: int) -> ApiKey:
    """The live key presented, counted against its limit of calls a minute. Raises NotAuthenticated (no key, a
    wrong or revoked one: the same answer) or Throttled (with `retry_after` seconds)."""
    if not presented or len(presented) > 200:
        raise NotAuthenticated("an API key is required: Authorization: Bearer <key>")
    key_hash = secrets.hash(presented)
    now = clock.now()
    with uow:
        found = uow.api_keys.get_by_hash(key_hash)
        if found is None or not hmac.compare_digest(found.key_hash, key_hash) or not found.live:
            raise NotAuthenticated("that API key is not valid")
        counter = "api:" + found.id
        uow.login_requests.lock(counter)  # every worker and host counts under one lock per key
        if uow.login_requests.count_since(counter, now - RATE_WINDOW) >= per_minute:
            raise Throttled(f"more than {per_minute} calls a minute with this key; slow down", limit="api key",
                            retry_after=int(RATE_WINDOW.total_seconds()))
        uow.login_requests.record(counter, now)
        if found.last_used_at is None or now - found.last_used_at >= LAST_USED_RESOLUTION:
            found.last_used_at = now
            uow.api_keys.update(found)
        uow.commit()
    return found
