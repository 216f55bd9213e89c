"""Configuration: defaults, overridden by PORTAL_* environment variables (documented in the README)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import attrs

from portal_core.errors import PortalError

PREFIX = "PORTAL_"


class ConfigurationError(PortalError):
    """A setting is missing or malformed."""


def _flag(environ: Mapping[str, str], name: str) -> bool:
    value = environ.get(PREFIX + name) or "0"
    if value not in ("0", "1"):
        raise ConfigurationError(f"{PREFIX}{name} must be 0 or 1, not {value!r}")
    return value == "1"


def _positive_int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(PREFIX + name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{PREFIX}{name} must be a whole number, not {raw!r}") from None
    if value < 0:
        raise ConfigurationError(f"{PREFIX}{name} must not be negative")
    return value


@attrs.frozen(kw_only=True)
class Settings:
    database_url: str
    secret_key: str | None = attrs.field(default=None, repr=False)
    base_url: str = "http://127.0.0.1:5000"
    email_url: str = "console://"
    email_from: str | None = None
    file_dir: str
    file_storage: str | None = None  # s3://BUCKET/PREFIX keeps file contents in a bucket; unset: file_dir
    instance_dir: str
    login_ip_limit: int = 100
    session_idle_minutes: int = 60
    session_absolute_hours: int = 24
    stripe_api_base: str = "https://api.stripe.com"
    telr_api_url: str = "https://secure.telr.com/gateway/order.json"
    trusted_proxies: int = 0  # how many reverse proxies in front set X-Forwarded-*; 0 trusts none
    mail_timeout_seconds: int = 10
    payment_timeout_seconds: int = 20
    audit_retention_days: int = 365
    metrics_token: str | None = attrs.field(default=None, repr=False)  # GET /metrics answers 404 without one
    api_rate_per_minute: int = 600  # calls a minute per API key
    max_upload_mb: int = 50  # the largest file the API takes
    webhook_allow_private: bool = False  # 1: webhooks may call loopback and private addresses (tests, one LAN)
    # MODULE:CALLABLE giving an embedder's services from these settings (docs/embedding.md): the `portal` commands
    # then work over the embedder's own database, e.g. small_crm.portal:services.
    app: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        env = os.environ if environ is None else environ
        instance = Path(env.get(PREFIX + "INSTANCE_DIR") or Path.cwd() / "instance")
        values: dict[str, object] = {
            "instance_dir": str(instance),
            "database_url": env.get(PREFIX + "DATABASE_URL") or f"sqlite:///{instance / 'portal.db'}",
            "secret_key": env.get(PREFIX + "SECRET_KEY") or None,
            "base_url": (env.get(PREFIX + "BASE_URL") or "http://127.0.0.1:5000").rstrip("/"),
            "email_url": env.get(PREFIX + "EMAIL_URL") or "console://",
            "email_from": env.get(PREFIX + "EMAIL_FROM") or None,
            "file_dir": env.get(PREFIX + "FILE_DIR") or str(instance / "files"),
            "file_storage": env.get(PREFIX + "FILE_STORAGE") or None,
            "login_ip_limit": _positive_int(env, "LOGIN_IP_LIMIT", 100),
            "session_idle_minutes": _positive_int(env, "SESSION_IDLE_MINUTES", 60),
            "session_absolute_hours": _positive_int(env, "SESSION_ABSOLUTE_HOURS", 24),
            "stripe_api_base": (env.get(PREFIX + "STRIPE_API_BASE") or "https://api.stripe.com").rstrip("/"),
            "telr_api_url": env.get(PREFIX + "TELR_API_URL") or "https://secure.telr.com/gateway/order.json",
            "trusted_proxies": _positive_int(env, "TRUSTED_PROXIES", 0),
            "mail_timeout_seconds": _positive_int(env, "MAIL_TIMEOUT_SECONDS", 10),
            "payment_timeout_seconds": _positive_int(env, "PAYMENT_TIMEOUT_SECONDS", 20),
            "audit_retention_days": _positive_int(env, "AUDIT_RETENTION_DAYS", 365),
            "metrics_token": env.get(PREFIX + "METRICS_TOKEN") or None,
            "api_rate_per_minute": _positive_int(env, "API_RATE_PER_MINUTE", 600),
            "max_upload_mb": _positive_int(env, "MAX_UPLOAD_MB", 50),
            "webhook_allow_private": _flag(env, "WEBHOOK_ALLOW_PRIVATE"),
            "app": env.get(PREFIX + "APP") or None,
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    @property
    def is_https(self) -> bool:
        return self.base_url.startswith("https://")

    def require_secret(self) -> str:
        if not self.secret_key or len(self.secret_key) < 16:
            raise ConfigurationError("set PORTAL_SECRET_KEY to a long random string (at least 16 characters), "
                                     "e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))'")
        return self.secret_key
