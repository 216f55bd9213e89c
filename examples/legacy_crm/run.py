"""Serves the bundled client portal over the example CRM's database, read-only, with no change to the core.

    python examples/legacy_crm/run.py            # creates instance/legacy_crm.db on first run, then serves it

Sign-in codes are printed in this console (the console:// email sender).
"""

from __future__ import annotations

import argparse
import secrets
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # `legacy_crm` is the example's own package, next to this file

from legacy_crm.database import add_portal_tables, create_crm_database  # noqa: E402
from legacy_crm.portal import portal_over_crm  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=HERE / "instance" / "legacy_crm.db")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args()
    args.db.parent.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{args.db}"
    if not args.db.exists():
        create_crm_database(args.db)  # stands for the CRM you already have
    add_portal_tables(url)  # the portal's own tables, beside the CRM's
    key_file = args.db.parent / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(32))
    base_url = f"http://127.0.0.1:{args.port}"
    app, services = portal_over_crm(url, secret_key=key_file.read_text().strip(), base_url=base_url)
    with services.uow() as uow:
        globex = uow.companies.get_by_ref("GLOBEX")
    print(f"portal over {args.db}\n  open:       {base_url}/p/{globex.link_token if globex else '?'}/login\n"
          "  sign in as: homer@globex.example (the code is printed here)", flush=True)
    app.run(host="127.0.0.1", port=args.port)


if __name__ == "__main__":
    main()
