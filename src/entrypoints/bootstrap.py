"""The composition root: builds the portal's services from settings, choosing adapters from explicit maps."""

from __future__ import annotations

import datetime as dt
import functools
import importlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import cast
from urllib.parse import urlsplit

import attrs

from adapters.console import ConsoleEmailSender
from adapters.crypto import FernetCredentialVault
from adapters.filesystem import LocalFileStorage
from adapters.jinja import JinjaEmailTemplates
from adapters.memory import InMemoryFileStorage, InMemorySchemaStatus, InMemoryStore, InMemoryUnitOfWork
from adapters.pdf import WeasyPrintDocuments
from adapters.smtp import SmtpEmailSender
from adapters.stripe import StripePaymentGateway
from adapters.system import SecretsRandomness, SystemClock
from adapters.telr import TelrPaymentGateway
from adapters.webhook_http import HttpWebhookTransport
from entrypoints.settings import ConfigurationError, Settings
from portal_core.api_keys import ApiKeySecrets
from portal_core.model.payment import Provider
from portal_core.payment_providers import CredentialCheck
from portal_core.ports import (
    Clock,
    CredentialVault,
    DocumentRenderer,
    EmailSender,
    EmailTemplates,
    FileStorage,
    GatewayFactory,
    PaymentGateway,
    Randomness,
    SchemaStatus,
    UnitOfWork,
    WebhookTransport,
)
from portal_core.sign_in import SignInPolicy, SignInSecrets
from portal_core.webhooks import WebhookSecrets


@attrs.define(kw_only=True)
class Services:
    """Everything a use case may need, built once per process."""

    settings: Settings
    uow: Callable[[], UnitOfWork]
    clock: Clock
    randomness: Randomness
    email_sender: EmailSender
    templates: EmailTemplates
    files: FileStorage
    sign_in_policy: SignInPolicy
    documents: DocumentRenderer = attrs.Factory(WeasyPrintDocuments)
    payment_gateways: Mapping[Provider, GatewayFactory] = attrs.Factory(dict)
    # Each provider's adapter's check of what its credentials look like (portal payments connect).
    credential_checks: Mapping[Provider, CredentialCheck] = attrs.Factory(
        lambda: {Provider.STRIPE: StripePaymentGateway.check_credentials,
                 Provider.TELR: TelrPaymentGateway.check_credentials})
    schema_status: SchemaStatus = attrs.Factory(InMemorySchemaStatus)
    webhook_transport: WebhookTransport = attrs.Factory(HttpWebhookTransport)
    close: Callable[[], None] = lambda: None
    # A unit of work for use cases that only read (the pages' browsing): over SQLAlchemy on PostgreSQL, one without
    # BEGIN and ROLLBACK round trips that refuses any write. None: reads use `uow` like everything else.
    read_uow: Callable[[], UnitOfWork] | None = None

    def reader(self) -> UnitOfWork:
        """A unit of work for a use case that only reads."""
        return self.read_uow() if self.read_uow is not None else self.uow()

    # Derived from PORTAL_SECRET_KEY on first use, once per process (a command that needs none never asks for the
    # secret, so it runs without one).
    @functools.cached_property
    def sign_in_secrets(self) -> SignInSecrets:
        return SignInSecrets.from_secret(self.settings.require_secret())

    @functools.cached_property
    def api_key_secrets(self) -> ApiKeySecrets:
        return ApiKeySecrets.from_secret(self.settings.require_secret())

    @functools.cached_property
    def webhook_secrets(self) -> WebhookSecrets:
        return WebhookSecrets.from_secret(self.settings.require_secret())

    @functools.cached_property
    def credential_vault(self) -> CredentialVault:
        return FernetCredentialVault.from_secret(self.settings.require_secret())


def payment_gateways(settings: Settings) -> dict[Provider, GatewayFactory]:
    """One gateway per provider, built per use from the credentials kept (encrypted) in the database."""

    def stripe(credentials: Mapping[str, str]) -> PaymentGateway:
        return StripePaymentGateway.from_settings(settings, credentials)

    def telr(credentials: Mapping[str, str]) -> PaymentGateway:
        return TelrPaymentGateway.from_settings(settings, credentials)

    return {Provider.STRIPE: stripe, Provider.TELR: telr}


def _email_sender(settings: Settings) -> EmailSender:
    scheme = urlsplit(settings.email_url).scheme
    from_addr = settings.email_from
    builders: dict[str, Callable[[], EmailSender]] = {
        "console": lambda: ConsoleEmailSender(from_addr=from_addr or ""),
        "smtp": lambda: SmtpEmailSender.from_url(settings.email_url, from_addr=from_addr,
                                                 timeout=settings.mail_timeout_seconds),
    }
    if scheme not in builders:
        raise ConfigurationError(f"PORTAL_EMAIL_URL must start with smtp:// or console://, not {settings.email_url!r}")
    return builders[scheme]()


def check_email_settings(settings: Settings) -> None:
    """Builds the email sender once, so a malformed or unsafe PORTAL_EMAIL_URL stops `portal serve` before it
    starts its workers. Raises ConfigurationError or InvalidInput."""
    _email_sender(settings)


def check_file_storage(settings: Settings) -> None:
    """Builds the file storage once, so a malformed PORTAL_FILE_STORAGE stops `portal serve` with one line before
    it starts its workers (a bucket that is merely down is not refused: downloads answer 503 until it is back).
    Raises ConfigurationError or InvalidInput."""
    _file_storage(settings)


def _file_storage(settings: Settings) -> FileStorage:
    if settings.file_storage is None:
        return InMemoryFileStorage() if settings.file_dir == "memory://" else LocalFileStorage(settings.file_dir)
    url = settings.file_storage

    def s3() -> FileStorage:
        from adapters.s3 import S3FileStorage  # boto3 is loaded only by a portal that keeps its files in a bucket

        return S3FileStorage.from_url(url)

    builders: dict[str, Callable[[], FileStorage]] = {"s3": s3}
    scheme = urlsplit(url).scheme
    if scheme not in builders:  # only the scheme is repeated: the rest of a mistyped URL might hold a secret
        raise ConfigurationError(f"PORTAL_FILE_STORAGE must look like s3://BUCKET/PREFIX, not "
                                 f"{scheme or '(no scheme)'}://...")
    return builders[scheme]()


def _database(settings: Settings) -> tuple[Callable[[], UnitOfWork], Callable[[], UnitOfWork] | None, SchemaStatus,
                                           Callable[[], None]]:
    if settings.database_url == "memory://":
        store = InMemoryStore()
        return (lambda: InMemoryUnitOfWork(store)), None, InMemorySchemaStatus(), (lambda: None)
    from adapters.sqlalchemy.engine import create_engine_from_url
    from adapters.sqlalchemy.schema import SqlAlchemySchemaStatus
    from adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWork

    engine = create_engine_from_url(settings.database_url)
    return ((lambda: SqlAlchemyUnitOfWork(engine)), (lambda: SqlAlchemyUnitOfWork(engine, read_only=True)),
            SqlAlchemySchemaStatus(engine), engine.dispose)


def upgrade_database(settings: Settings) -> None:
    """Creates or upgrades the schema of PORTAL_DATABASE_URL (a SQLite file's folder is made first)."""
    from adapters.sqlalchemy.migrate import upgrade

    if settings.database_url.startswith("sqlite:///"):
        Path(settings.database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url)


def _nothing_to_close() -> None:
    pass


def build_services(settings: Settings, *, email_sender: EmailSender | None = None, clock: Clock | None = None,
                   randomness: Randomness | None = None, files: FileStorage | None = None,
                   uow: Callable[[], UnitOfWork] | None = None,
                   gateways: Mapping[Provider, GatewayFactory] | None = None,
                   schema_status: SchemaStatus | None = None,
                   webhook_transport: WebhookTransport | None = None,
                   read_uow: Callable[[], UnitOfWork] | None = None) -> Services:
    """Real adapters from settings; tests and embedders pass their own for any port. An embedder passing its own
    unit of work passes its schema status too: without one, /readyz could not tell a database that is not ready."""
    close: Callable[[], None] = _nothing_to_close
    if uow is not None and schema_status is None:
        raise ConfigurationError("build_services(uow=...) needs schema_status=... as well (a SchemaStatus over the "
                                 "same database, e.g. adapters.sqlalchemy.schema.SqlAlchemySchemaStatus(engine))")
    schema: SchemaStatus = schema_status or InMemorySchemaStatus()
    if uow is None:
        uow, database_reader, database_schema, close = _database(settings)
        read_uow = read_uow or database_reader
        schema = schema_status or database_schema
    file_storage = files or _file_storage(settings)
    return Services(
        settings=settings, uow=uow, clock=clock or SystemClock(), randomness=randomness or SecretsRandomness(),
        email_sender=email_sender or _email_sender(settings), templates=JinjaEmailTemplates(),
        files=file_storage,
        sign_in_policy=SignInPolicy(per_ip_per_hour=settings.login_ip_limit,
                                    idle_timeout=dt.timedelta(minutes=settings.session_idle_minutes),
                                    absolute_lifetime=dt.timedelta(hours=settings.session_absolute_hours)),
        payment_gateways=gateways if gateways is not None else payment_gateways(settings),
        schema_status=schema,
        webhook_transport=webhook_transport or HttpWebhookTransport(allow_private=settings.webhook_allow_private),
        close=close, read_uow=read_uow,
    )


class AppNotFound(ConfigurationError):
    """PORTAL_APP (or `portal --app`) names no callable that builds the portal's services."""


def app_factory(spec: str) -> Callable[[Settings], object]:
    """The callable PORTAL_APP (or `portal --app`) names as MODULE:CALLABLE; AppNotFound when there is none."""
    module_name, _, name = spec.partition(":")
    if not module_name or not name:
        raise AppNotFound(f"PORTAL_APP must look like MODULE:CALLABLE (e.g. small_crm.portal:services), not {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except (ImportError, ValueError, TypeError) as exc:  # a relative or malformed name is a ValueError/TypeError
        raise AppNotFound(f"cannot import {module_name} named by PORTAL_APP: {exc}") from None
    factory = getattr(module, name, None)
    if not callable(factory):
        raise AppNotFound(f"{module_name} has no callable named {name} (PORTAL_APP)")
    return cast(Callable[[Settings], object], factory)


def services_for(settings: Settings) -> Services:
    """The services the settings ask for: an embedder's, when settings.app (PORTAL_APP, `portal --app`) names a
    MODULE:CALLABLE taking the settings and returning Services (docs/embedding.md); else build_services(settings)."""
    if settings.app is None:
        return build_services(settings)
    built = app_factory(settings.app)(settings)
    if not isinstance(built, Services):
        raise AppNotFound(f"{settings.app} returned {type(built).__name__}, not the portal's Services "
                          "(entrypoints.bootstrap.build_services builds them)")
    return built
