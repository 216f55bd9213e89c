"""Webhook deliveries over HTTP(S), with the standard library's http.client.

A receiver's host is resolved once per try, every address it resolves to is checked (no loopback, private,
link-local, multicast or reserved address unless the portal allows private ones), and the connection is made to
the address that was checked, so a name that resolves differently a moment later (DNS rebinding) cannot turn a
delivery against the portal's own network. Redirects are not followed: a 3xx is a failed try. Error messages name
what went wrong, never the URL (it may carry a token of the receiver's).
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import SplitResult, urlsplit

from portal_core.errors import DeliveryFailed

Resolver = Callable[..., list[tuple[Any, ...]]]
USER_AGENT = "portal-webhooks/1"


class _Refused(Exception):
    pass


# IPv6 prefixes that carry an IPv4 address in their last 32 bits: NAT64 (RFC 6052, RFC 8215), IPv4-compatible and
# IPv4-translated (RFC 2765). Such an address reaches whatever IPv4 address it embeds.
_EMBEDDING_IPV4 = [ipaddress.ip_network(n) for n in ("64:ff9b::/96", "64:ff9b:1::/48", "::/96", "::ffff:0:0:0/96")]


def _public(address: str) -> bool:
    """True for an address on the public internet; False for loopback, private, link-local, site-local, multicast,
    reserved and unspecified ones, and for IPv6 forms that embed such an IPv4 address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.is_site_local:
            return False
        embedded = [ip.ipv4_mapped, ip.sixtofour, ip.teredo[1] if ip.teredo else None]
        if any(ip in network for network in _EMBEDDING_IPV4):
            embedded.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        if any(v4 is not None and not _public(str(v4)) for v4 in embedded):
            return False
        if ip.ipv4_mapped is not None:
            return True  # its IPv4 address was public
    return ip.is_global and not ip.is_multicast


def _connect(addresses: list[str], port: int, timeout: float | None) -> socket.socket:
    """A connection to the first of the checked addresses that answers."""
    failure: OSError = OSError("no address")
    for address in addresses:
        try:
            return socket.create_connection((address, port), timeout)
        except OSError as exc:
            failure = exc
    raise failure


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, *, addresses: list[str], timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._addresses = addresses

    def connect(self) -> None:
        self.sock = _connect(self._addresses, self.port, self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, *, addresses: list[str], timeout: float,
                 context: ssl.SSLContext | None = None) -> None:
        super().__init__(host, port, timeout=timeout, context=context or ssl.create_default_context())
        self._addresses = addresses

    def connect(self) -> None:
        sock = _connect(self._addresses, self.port, self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


class HttpWebhookTransport:
    """`timeout` bounds a whole try (connecting, sending, and the answer's status and headers), not each step: a
    receiver that trickles its answer is cut off when it is up. `resolve` and `public` are the resolver and the
    address check (tests give their own, to reach a receiver on loopback through the checked-address path);
    `tls` the TLS context for https (tests trust their own certificate authority)."""

    def __init__(self, *, allow_private: bool = False, timeout: float = 5.0, resolve: Resolver = socket.getaddrinfo,
                 public: Callable[[str], bool] = _public, tls: ssl.SSLContext | None = None) -> None:
        self._allow_private = allow_private
        self._timeout = timeout
        self._resolve = resolve
        self._public = public
        self._tls = tls

    def refusal(self, url: str) -> str:
        try:
            self._target(url)
        except _Refused as exc:
            return str(exc)
        return ""

    @property
    def timeout(self) -> float:
        return self._timeout

    def _target(self, url: str) -> tuple[SplitResult, str, int, list[str]]:
        """The URL's parts, host, port and the addresses to connect to. Raises _Refused."""
        if any(not 32 < ord(character) < 127 for character in url):
            raise _Refused("a URL holds no spaces, control or non-ASCII characters (percent-encode them)")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise _Refused("not a URL") from None
        if parts.scheme not in ("http", "https"):
            raise _Refused("only http:// and https:// URLs can receive webhooks")
        host = parts.hostname
        if not host:
            raise _Refused("the URL has no host")
        port = port or (443 if parts.scheme == "https" else 80)
        if self._allow_private:
            return parts, host, port, [host]
        try:
            found = self._resolve(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            raise _Refused("its host name does not resolve") from None
        addresses = [str(info[4][0]) for info in found]
        if not addresses:
            raise _Refused("its host name does not resolve")
        for address in addresses:
            if not self._public(address):
                raise _Refused(f"its host is on loopback or a private network ({address}); "
                               "set PORTAL_WEBHOOK_ALLOW_PRIVATE=1 to allow that")
        return parts, host, port, list(dict.fromkeys(addresses))

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> None:
        try:
            parts, host, port, addresses = self._target(url)
        except _Refused as exc:
            raise DeliveryFailed(f"the portal will not call this URL: {exc}") from None
        if parts.scheme == "https":
            connection: http.client.HTTPConnection = _PinnedHTTPSConnection(
                host, port, addresses=addresses, timeout=self._timeout, context=self._tls)
        else:
            connection = _PinnedHTTPConnection(host, port, addresses=addresses, timeout=self._timeout)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        # One deadline for the whole try: when it passes, the socket is shut, and whatever read was waiting fails.
        expired = threading.Event()

        def cut_off() -> None:
            expired.set()
            if connection.sock is not None:
                with contextlib.suppress(OSError):
                    connection.sock.shutdown(socket.SHUT_RDWR)

        timer = threading.Timer(self._timeout, cut_off)
        timer.start()
        response: http.client.HTTPResponse | None = None
        try:
            connection.request("POST", path, body=body, headers={**headers, "User-Agent": USER_AGENT})
            response = connection.getresponse()
            status = response.status
        except (TimeoutError, OSError, http.client.HTTPException) as exc:
            if expired.is_set() or isinstance(exc, TimeoutError):
                raise DeliveryFailed(f"the receiver did not answer within {self._timeout:g} s") from None
            raise DeliveryFailed(f"the receiver could not be reached ({type(exc).__name__})") from None
        finally:
            timer.cancel()
            if response is not None:
                response.close()  # its body is not read: only the status counts
            connection.close()
        if expired.is_set():
            raise DeliveryFailed(f"the receiver did not answer within {self._timeout:g} s")
        if not 200 <= status < 300:
            raise DeliveryFailed(f"the receiver answered {status}")
