"""The example's composition: the portal's services over the CRM's database, and the bundled Flask app on top."""

from __future__ import annotations

from typing import Any

from flask import Flask

from adapters.sqlalchemy.schema import SqlAlchemySchemaStatus
from entrypoints.bootstrap import Services, build_services
from entrypoints.settings import Settings
from entrypoints.web import create_app
from legacy_crm.adapters import LegacyCrmFileStorage, unit_of_work_factory
from legacy_crm.database import legacy_engine
from portal_core.ids import OpaqueIds


def portal_over_crm(database_url: str, *, secret_key: str, base_url: str = "http://127.0.0.1:5000",
                    synchronous_mail: bool = False, **ports: Any) -> tuple[Flask, Services]:
    """The portal, unchanged, over the CRM. `ports` may replace any other port (email_sender=, clock=, ...)."""
    engine = legacy_engine(database_url)
    ids = OpaqueIds.from_secret(secret_key)
    storage = LegacyCrmFileStorage.from_url(database_url, ids)
    settings = Settings.from_env({}, database_url=database_url, secret_key=secret_key, base_url=base_url,
                                 file_dir="memory://")
    services = build_services(settings, uow=unit_of_work_factory(engine, ids), files=storage,
                              schema_status=SqlAlchemySchemaStatus(engine), **ports)

    def close() -> None:
        engine.dispose()
        storage.close()

    services.close = close
    return create_app(services=services, synchronous_mail=synchronous_mail), services
