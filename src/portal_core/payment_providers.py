"""Payment providers, connected by staff (`portal payments connect|disconnect|status`): their credentials, kept
encrypted by the CredentialVault and shown with secrets masked, and the gateway built from them for each use."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping

import attrs

from portal_core import records
from portal_core.errors import (
    InvalidInput,
    PaymentsNotConfigured,
)
from portal_core.model.payment import (
    Provider,
    ProviderConnection,
)
from portal_core.ports import (
    Clock,
    CredentialVault,
    GatewayFactory,
    PaymentGateway,
    Randomness,
    UnitOfWork,
)

PROVIDER_NAMES = {Provider.STRIPE: "Stripe", Provider.TELR: "Telr"}
# Which credentials each provider needs, and which of them are secrets (shown as their last 4 characters only).
CREDENTIAL_FIELDS: dict[Provider, tuple[str, ...]] = {
    Provider.STRIPE: ("secret_key", "webhook_secret"),
    Provider.TELR: ("store_id", "auth_key", "test_mode"),
}
SECRET_FIELDS = frozenset({"secret_key", "webhook_secret", "auth_key"})

Gateways = Mapping[Provider, GatewayFactory]
CredentialCheck = Callable[[Mapping[str, str]], None]  # raises InvalidInput for credentials of the wrong shape


@attrs.frozen(kw_only=True)
class ProviderStatus:
    provider: Provider
    connected_at: dt.datetime
    shown: tuple[tuple[str, str], ...]  # (field, value) with secrets masked

    def describe(self) -> str:
        return f"{self.provider.value}: connected " + " ".join(f"{k}={v}" for k, v in self.shown)


def parse_provider(value: str) -> Provider:
    try:
        return Provider(str(value).strip().lower())
    except ValueError:
        raise InvalidInput(f"unknown payment provider {value!r} (expected stripe or telr)") from None


# ---- connecting providers (staff, through the CLI)


def _mask(field: str, value: str) -> str:
    if field not in SECRET_FIELDS:
        return value
    return "…" + value[-4:] if len(value) > 4 else "…"


def _check_credentials(provider: Provider, credentials: Mapping[str, str],
                       check: CredentialCheck | None) -> dict[str, str]:
    values = {k: str(v).strip() for k, v in credentials.items()}
    if set(values) != set(CREDENTIAL_FIELDS[provider]):
        raise InvalidInput(f"{provider.value} needs exactly: {', '.join(CREDENTIAL_FIELDS[provider])}")
    if check is not None:
        check(values)  # the adapter's knowledge of what the provider's keys look like
    return values


def _status(vault: CredentialVault, connection: ProviderConnection) -> ProviderStatus:
    credentials = _open(vault, connection)
    shown = tuple((field, _mask(field, credentials.get(field, ""))) for field in CREDENTIAL_FIELDS[connection.provider])
    return ProviderStatus(provider=connection.provider, connected_at=connection.connected_at, shown=shown)


def _open(vault: CredentialVault, connection: ProviderConnection) -> dict[str, str]:
    data = json.loads(vault.open(connection.sealed_credentials).decode("utf-8"))
    return {str(k): str(v) for k, v in data.items()}


def connect_provider(uow: UnitOfWork, *, vault: CredentialVault, clock: Clock, randomness: Randomness,
                     provider: Provider, credentials: Mapping[str, str],
                     check: CredentialCheck | None = None) -> ProviderStatus:
    """Stores the provider's credentials encrypted (replacing earlier ones), once they have the provider's fields and
    pass `check` (the provider's adapter's own, which knows what its keys look like). Raises InvalidInput."""
    provider = Provider(provider)
    values = _check_credentials(provider, credentials, check)
    sealed = vault.seal(json.dumps(values, sort_keys=True).encode("utf-8"))
    connection = ProviderConnection(provider=provider, sealed_credentials=sealed, connected_at=clock.now())
    with uow:
        uow.payment_providers.save(connection)
        records.audit(uow, randomness=randomness, clock=clock, action="payment_provider_connected", company_id=None,
                      detail=provider.value)
        uow.commit()
    return _status(vault, connection)


def disconnect_provider(uow: UnitOfWork, *, clock: Clock, randomness: Randomness, provider: Provider) -> bool:
    """Forgets the provider's credentials; Pay Now through it disappears at once. False when it was not connected."""
    provider = Provider(provider)
    with uow:
        if uow.payment_providers.get(provider) is None:
            return False
        uow.payment_providers.remove(provider)
        records.audit(uow, randomness=randomness, clock=clock, action="payment_provider_disconnected", company_id=None,
                      detail=provider.value)
        uow.commit()
    return True


def provider_status(uow: UnitOfWork, *, vault: CredentialVault) -> list[ProviderStatus]:
    with uow:
        connections = uow.payment_providers.list()
    return [_status(vault, connection) for connection in connections]


def connected_providers(uow: UnitOfWork) -> tuple[Provider, ...]:
    with uow:
        return tuple(c.provider for c in uow.payment_providers.list())


def gateway_for(uow: UnitOfWork, *, gateways: Gateways, vault: CredentialVault,
                provider: Provider) -> PaymentGateway:
    connection = uow.payment_providers.get(provider)
    if connection is None or provider not in gateways:
        raise PaymentsNotConfigured(f"{provider.value} is not connected")
    return gateways[provider](_open(vault, connection))
