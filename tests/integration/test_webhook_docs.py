"""The signature checks docs/api.md gives a CRM, in Python, PHP and Node, each run as written against a delivery the
portal made to a receiver on loopback: it accepts that delivery, and refuses it with a changed byte, another
secret, or an old timestamp."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from portal_core import webhooks
from tests.support.webhook_receiver import Call, WebhookReceiver

from .web_fixtures import make_portal

DOC = (Path(__file__).parents[2] / "docs" / "api.md").read_text()


def snippet(language: str) -> str:
    found = [block for block in re.findall(rf"```{language}\n(.*?)```", DOC, re.S) if "verify" in block.lower()]
    assert len(found) == 1, f"docs/api.md has one {language} signature check"
    return found[0]


@pytest.fixture(scope="module")
def delivery() -> Iterator[tuple[str, Call]]:
    """(secret, the POST the receiver got) for one contact.signed_in event, signed now."""
    with WebhookReceiver() as receiver:
        portal = make_portal(now=dt.datetime.now(dt.UTC).replace(microsecond=0), webhook_allow_private=True)
        s = portal.services
        _webhook, secret = webhooks.add_webhook(s.uow(), transport=s.webhook_transport, secrets=s.webhook_secrets,
                                                randomness=s.randomness, clock=s.clock, url=receiver.url,
                                                events="contact.signed_in")
        portal.sign_in("globex", "homer@globex.example")
        webhooks.deliver(s.uow(), transport=s.webhook_transport, secrets=s.webhook_secrets, clock=s.clock)
        [call] = receiver.wait_for(1)
        yield secret, call


def cases(secret: str, call: Call) -> list[tuple[str, str, bytes, bool]]:
    """(secret, header, body, should it verify)."""
    header = call.headers["Portal-Signature"]
    t = header.split(",")[0].removeprefix("t=")
    old = webhooks.signature(secret, call.body, int(t) - 3600)
    return [(secret, header, call.body, True),
            (secret, header, call.body.replace(b"globex", b"glob3x"), False),
            ("whsec_" + "A" * 43, header, call.body, False),
            (secret, old, call.body, False),  # an hour old: a replay
            (secret, "t=abc,v1=00", call.body, False),
            (secret, f"t={t},v1=\u00e9", call.body, False),  # a forged header is refused, never a crash
            (secret, "", call.body, False)]  # no header at all


def test_the_python_check(delivery: tuple[str, Call]) -> None:
    namespace: dict[str, Any] = {}
    exec(snippet("python"), namespace)  # noqa: S102 - our own documentation, run as a reader would
    for secret, header, body, expected in cases(*delivery):
        assert namespace["verify"](secret, header, body) is expected, header


def _run_each(tmp_path: Path, command: list[str], delivery: tuple[str, Call]) -> list[bool]:
    results = []
    for n, (secret, header, body, _expected) in enumerate(cases(*delivery)):
        for name, value in (("secret", secret.encode()), ("header", header.encode()), ("body", body)):
            (tmp_path / f"{name}{n}").write_bytes(value)
        done = subprocess.run([*command, str(tmp_path / f"secret{n}"), str(tmp_path / f"header{n}"),
                               str(tmp_path / f"body{n}")], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        results.append(done.stdout.strip() == "1")
    return results


def test_the_php_check(delivery: tuple[str, Call], tmp_path: Path) -> None:
    if shutil.which("php") is None:
        pytest.skip("php is absent (.ci/run installs php-cli)")
    script = tmp_path / "verify.php"
    script.write_text("<?php\n" + snippet("php") + "\n$f = fn($i) => file_get_contents($argv[$i]);\n"
                      "echo portal_verify($f(1), $f(2), $f(3)) ? '1' : '0';\n")
    assert _run_each(tmp_path, ["php", str(script)], delivery) == [c[3] for c in cases(*delivery)]


def test_the_node_check(delivery: tuple[str, Call], tmp_path: Path) -> None:
    if shutil.which("node") is None:
        pytest.skip("node is absent")
    script = tmp_path / "verify.js"
    script.write_text(snippet("js") + "\nconst fs = require('fs');\nconst [s, h, b] = process.argv.slice(2);\n"
                      "console.log(portalVerify(fs.readFileSync(s, 'utf8'), fs.readFileSync(h, 'utf8'), "
                      "fs.readFileSync(b)) ? '1' : '0');\n")
    assert _run_each(tmp_path, ["node", str(script)], delivery) == [c[3] for c in cases(*delivery)]
