"""The composition: the portal's services over the small CRM's database, for the web app and for `portal --app`.

    PORTAL_DATABASE_URL=sqlite:///crm.db PORTAL_SECRET_KEY=... portal --app small_crm.portal:services request list C1
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from adapters.sqlalchemy import embedding
from adapters.sqlalchemy.schema import SqlAlchemySchemaStatus
from entrypoints.bootstrap import Services, build_services
from entrypoints.settings import ConfigurationError, Settings
from portal_core.model.business import Business
from small_crm.crm import SmallCrmUnitOfWork

HERE = Path(__file__).resolve().parent.parent
BUSINESS = Business(name="Falcon Facilities", email="office@falcon.example", phone="+971 4 000 0000")


def create_crm_database(path: Path, *, sample_data: bool = True) -> str:
    """The CRM's own database (what its installer made), then the portal's tables and the access trigger beside."""
    with sqlite3.connect(path) as connection:
        connection.executescript((HERE / "schema.sql").read_text())
        if sample_data:
            connection.executescript((HERE / "sample_data.sql").read_text())
    connection.close()
    url = f"sqlite:///{path}"
    prepare(url)
    return url


def prepare(url: str) -> None:
    """The portal's tables in the CRM's database, and the trigger that ends sessions for good when the CRM turns a
    client's portal off (run on every upgrade: both steps are idempotent)."""
    embedding.add_portal_tables(url, access_flag=("clients", "id", "portal"))


def services(settings: Settings, **ports: Any) -> Services:
    """The portal's services over the CRM (`portal --app small_crm.portal:services`, or PORTAL_APP)."""
    if not settings.secret_key:
        raise ConfigurationError("PORTAL_SECRET_KEY must be set: it keys the ids and link tokens over the CRM")
    secret, engine = settings.secret_key, embedding.crm_engine(settings.database_url)
    built = build_services(settings, uow=lambda: SmallCrmUnitOfWork(engine, secret, BUSINESS),
                           schema_status=SqlAlchemySchemaStatus(engine), **ports)
    built.close = engine.dispose
    return built
