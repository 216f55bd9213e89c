"""`portal demo`: a demo database from the bundled seed, served on 127.0.0.1 with codes printed to the console."""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from importlib import resources
from pathlib import Path
from typing import Any

from entrypoints.bootstrap import build_services, upgrade_database
from entrypoints.settings import Settings
from portal_core import companies
from portal_core.seed import load_seed

DEMO_COMPANY = "globex"
DEMO_EMAIL = "homer@globex.example"
_RELATIVE = re.compile(r"^@([+-]\d+)$")  # "@-30": thirty days before today, so the demo never goes stale


def demo_seed(today: dt.date) -> Any:
    text = resources.files("entrypoints").joinpath("demo_seed.json").read_text(encoding="utf-8")

    def resolve(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [resolve(v) for v in value]
        if isinstance(value, str) and (m := _RELATIVE.match(value)):
            return (today + dt.timedelta(days=int(m.group(1)))).isoformat()
        return value

    return resolve(json.loads(text))


def demo_settings(port: int) -> Settings:
    base = Settings.from_env()
    folder = Path(base.instance_dir) / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    key_file = folder / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(32))
        key_file.chmod(0o600)
    return Settings.from_env(
        {}, instance_dir=str(folder), database_url=f"sqlite:///{folder / 'portal.db'}", file_dir=str(folder / "files"),
        secret_key=key_file.read_text().strip(), base_url=f"http://127.0.0.1:{port}", email_url="console://")


def run_demo(port: int = 5000) -> None:
    from entrypoints.server import serve

    settings = demo_settings(port)
    upgrade_database(settings)
    services = build_services(settings)
    load_seed(services.uow(), randomness=services.randomness, clock=services.clock, storage=services.files,
              document=demo_seed(services.clock.now().date()))
    company = companies.get_company(services.uow(), DEMO_COMPANY)
    services.close()
    link = companies.portal_link(settings.base_url, company)
    print(f"""
Client portal demo
  database:   {settings.database_url}
  open:       {link}/login
  sign in as: {DEMO_EMAIL}
  codes:      printed right here in this console (the console:// email sender) when you ask for one
  stop:       Ctrl+C
""", flush=True)
    serve(settings, host="127.0.0.1", port=port, workers=1)
