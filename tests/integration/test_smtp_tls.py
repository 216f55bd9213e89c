"""The SMTP sender over TLS and with a login, against a real aiosmtpd relay on loopback with a self-signed
certificate: STARTTLS, implicit TLS (ssl=1), AUTH LOGIN/PLAIN, and the refusals (a wrong password, a certificate
nobody vouched for, a relay that demands STARTTLS of a sender configured without it)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from adapters.smtp import SmtpEmailSender
from portal_core.errors import DeliveryFailed
from portal_core.model.mail import Email
from tests.support.smtp import Mailbox, free_port, text_of

USER, PASSWORD = "portal", "relay-password-7f3a"
EMAIL = Email(to="homer@globex.example", subject="Your code", text="Your code is 123456", html="<p>123456</p>")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, and its key, as PEM files."""
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "portal test relay")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "relay.crt", folder / "relay.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


@pytest.fixture
def trusted(certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """The sender trusts the relay's certificate, as it would a real CA's (OpenSSL reads SSL_CERT_FILE)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))


class Logins:
    """aiosmtpd's authenticator: accepts USER/PASSWORD only, and remembers every attempt."""

    def __init__(self) -> None:
        self.attempts: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        assert isinstance(data, LoginPassword)
        login, password = data.login.decode(), data.password.decode()
        with self._lock:
            self.attempts.append((mechanism, login))
        return AuthResult(success=login == USER and password == PASSWORD)


def _server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*map(str, certificate))
    return context


@pytest.fixture
def starttls_relay(certificate: tuple[Path, Path]) -> Iterator[tuple[int, Mailbox, Logins]]:
    """A relay that demands STARTTLS before anything else, and a login (only over TLS) before mail."""
    mailbox, logins, port = Mailbox(), Logins(), free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, tls_context=_server_context(certificate),
                            require_starttls=True, authenticator=logins, auth_required=True, auth_require_tls=True)
    controller.start()
    yield port, mailbox, logins
    controller.stop()


class _ImplicitTlsController(Controller):
    def factory(self) -> Any:
        # aiosmtpd warns that AUTH does not require TLS; this connection is TLS from its first byte, which it
        # cannot tell (and with auth_require_tls it would not offer AUTH at all).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return super().factory()


@pytest.fixture
def ssl_relay(certificate: tuple[Path, Path]) -> Iterator[tuple[int, Mailbox, Logins]]:
    """A relay spoken to over TLS from the first byte (port 465 style), that demands a login."""
    mailbox, logins, port = Mailbox(), Logins(), free_port()
    controller = _ImplicitTlsController(mailbox, hostname="127.0.0.1", port=port,
                                        ssl_context=_server_context(certificate), authenticator=logins,
                                        auth_required=True, auth_require_tls=False)
    controller.start()
    yield port, mailbox, logins
    controller.stop()


def _sender(url: str) -> SmtpEmailSender:
    return SmtpEmailSender.from_url(url, from_addr="portal@falcon.example", timeout=5)


def test_starttls_with_a_login_delivers(trusted: None, starttls_relay: tuple[int, Mailbox, Logins]) -> None:
    port, mailbox, logins = starttls_relay
    _sender(f"smtp://{USER}:{PASSWORD}@127.0.0.1:{port}?starttls=1").send(EMAIL)
    [received] = mailbox.wait_for("homer@globex.example")
    assert text_of(received).strip() == "Your code is 123456" and received["From"] == "portal@falcon.example"
    assert [login for _mechanism, login in logins.attempts] == [USER]


def test_implicit_tls_with_a_login_delivers(trusted: None, ssl_relay: tuple[int, Mailbox, Logins]) -> None:
    port, mailbox, logins = ssl_relay
    _sender(f"smtp://{USER}:{PASSWORD}@127.0.0.1:{port}?ssl=1").send(EMAIL)
    assert len(mailbox.wait_for("homer@globex.example")) == 1
    assert [login for _mechanism, login in logins.attempts] == [USER]


@pytest.mark.parametrize("tls", ["starttls=1", "ssl=1"])
def test_a_wrong_password_is_a_delivery_failure_that_names_no_secret(
        trusted: None, starttls_relay: tuple[int, Mailbox, Logins], ssl_relay: tuple[int, Mailbox, Logins],
        tls: str) -> None:
    port, mailbox, logins = starttls_relay if tls == "starttls=1" else ssl_relay
    with pytest.raises(DeliveryFailed) as failed:
        _sender(f"smtp://{USER}:wrong-password@127.0.0.1:{port}?{tls}").send(EMAIL)
    assert "wrong-password" not in str(failed.value) and "homer" not in str(failed.value)
    assert logins.attempts and {login for _mechanism, login in logins.attempts} == {USER}  # tried, and refused
    assert mailbox.messages == []


@pytest.mark.parametrize("tls", ["starttls=1", "ssl=1"])
def test_a_certificate_nobody_vouched_for_is_refused_before_the_password_is_sent(
        starttls_relay: tuple[int, Mailbox, Logins], ssl_relay: tuple[int, Mailbox, Logins], tls: str,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "no-such-bundle.pem"))  # the relay's cert is not trusted
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    port, mailbox, logins = starttls_relay if tls == "starttls=1" else ssl_relay
    with pytest.raises(DeliveryFailed, match="SSLCertVerificationError"):
        _sender(f"smtp://{USER}:{PASSWORD}@127.0.0.1:{port}?{tls}").send(EMAIL)
    assert logins.attempts == [] and mailbox.messages == []


def test_a_relay_that_demands_starttls_refuses_a_plain_sender(starttls_relay: tuple[int, Mailbox, Logins]) -> None:
    port, mailbox, logins = starttls_relay
    with pytest.raises(DeliveryFailed):
        _sender(f"smtp://127.0.0.1:{port}").send(EMAIL)
    assert logins.attempts == [] and mailbox.messages == []
