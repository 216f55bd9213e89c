"""`portal payments connect|status|disconnect` as subprocesses, on SQLite and PostgreSQL: credentials are checked
by the provider's adapter (the core knows no key prefixes), stored encrypted, shown with secrets masked, and
refusals are one line with exit status 2. (`portal payments reconcile` against a fake Stripe is in
test_stripe_payments.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from adapters.sqlalchemy import tables as t

from .test_cli import run

SK = "sk_test_4eC39HqLyjWDarjtT1zdp7dc"
WHSEC = "whsec_0123456789abcdefWXYZ"


def test_providers_are_connected_shown_masked_and_disconnected(database_url: str, tmp_path: Path) -> None:
    stripe = run(database_url, tmp_path, "payments", "connect", "stripe", "--secret-key", SK,
                 "--webhook-secret", WHSEC)
    assert stripe.returncode == 0, stripe.stderr
    assert stripe.stdout.strip().startswith("stripe: connected") and "webhooks/stripe" in stripe.stderr
    telr = run(database_url, tmp_path, "payments", "connect", "telr", "--store-id", "15996", "--auth-key",
               "pQ7s~Xw4#kLm9", "--test-mode")
    assert telr.returncode == 0, telr.stderr
    status = run(database_url, tmp_path, "payments", "status")
    assert status.returncode == 0
    assert status.stdout.splitlines() == ["stripe: connected secret_key=…p7dc webhook_secret=…WXYZ",
                                          "telr: connected store_id=15996 auth_key=…kLm9 test_mode=1"]
    for secret in (SK, WHSEC, "pQ7s~Xw4#kLm9"):
        assert secret not in status.stdout + status.stderr + stripe.stdout + telr.stdout
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            stored = "".join(connection.execute(sa.select(t.payment_providers.c.sealed_credentials)).scalars())
    finally:
        engine.dispose()
    assert SK not in stored and "pQ7s" not in stored  # sealed, not in the clear
    gone = run(database_url, tmp_path, "payments", "disconnect", "telr")
    assert gone.returncode == 0 and gone.stdout.strip() == "telr: disconnected"
    assert run(database_url, tmp_path, "payments", "disconnect", "telr").stdout.strip() == "telr: was not connected"
    assert run(database_url, tmp_path, "payments", "status").stdout.splitlines()[1] == "telr: not connected"


@pytest.mark.parametrize(("args", "message"), [
    (["stripe", "--secret-key", "pk_test_publishable", "--webhook-secret", WHSEC], "starts with sk_"),
    (["stripe", "--secret-key", SK, "--webhook-secret", "sk_test_swapped"], "signing secret starts with whsec_"),
    (["telr", "--store-id", "store-1", "--auth-key", "abc"], "the Telr store id is a number"),
    (["telr", "--store-id", "15996", "--auth-key", "with space"], "without spaces"),
    (["paypal", "--key", "x"], "invalid choice"),
])
def test_credentials_of_the_wrong_shape_are_refused_in_one_line(database_url: str, tmp_path: Path, args: list[str],
                                                                 message: str) -> None:
    done = run(database_url, tmp_path, "payments", "connect", *args)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and message in done.stderr
    assert run(database_url, tmp_path, "payments", "status").stdout == "stripe: not connected\ntelr: not connected\n"
