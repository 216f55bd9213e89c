"""Webhook deliveries over HTTP(S), with the standard library's http.client.

A receiver's host is resolved once per try, every address it resolves to is checked (no loopback, private,
link-local, multicast or reserved address unless the portal allows private ones), and the connection is made to
the address that was checked, so a name that resolves differently a moment later (DNS rebinding) cannot turn a
delivery against the portal's own network. Redirects are not followed: a 3xx is a failed try. Error messages name
what went wrong, never the URL (it may carry a token of the receiver's).
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import SplitResult, urlsplit

from portal_core.errors import DeliveryFailed

Resolver = Callable[..., list[tuple[Any, ...]]]
USER_AGENT = "portal-webhooks/1"


class _Refused(Exception):
    pass


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


class HttpWebhookTransport:
    def __init__(self, *, allow_private: bool = False, timeout: float = 5.0,
                 resolve: Resolver = socket.getaddrinfo) -> None:
        self._allow_private = allow_private
        self._timeout = timeout
        self._resolve = resolve

    def refusal(self, url: str) -> str:
        try:
            self._target(url)
        except _Refused as exc:
            return str(exc)
        return ""

    def _target(self, url: str) -> tuple[SplitResult, str, int, str]:
        """The URL's parts, host, port and the address to connect to. Raises _Refused."""
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
            return parts, host, port, host
        try:
            found = self._resolve(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            raise _Refused("its host name does not resolve") from None
        addresses = [str(info[4][0]) for info in found]
        if not addresses:
            raise _Refused("its host name does not resolve")
        for address in addresses:
            if not _public(address):
                raise _Refused(f"its host is on loopback or a private network ({address}); "
                               "set PORTAL_WEBHOOK_ALLOW_PRIVATE=1 to allow that")
        return parts, host, port, addresses[0]

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> None:
        try:
            parts, host, port, address = self._target(url)
        except _Refused as exc:
            raise DeliveryFailed(f"the portal will not call this URL: {exc}") from None
        kind = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
        connection = kind(host, port, address=address, timeout=self._timeout)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            connection.request("POST", path, body=body, headers={**headers, "User-Agent": USER_AGENT})
            response = connection.getresponse()
            response.read(65536)
        except TimeoutError:
            raise DeliveryFailed(f"the receiver did not answer within {self._timeout:g} s") from None
        except (OSError, http.client.HTTPException) as exc:
            raise DeliveryFailed(f"the receiver could not be reached ({type(exc).__name__})") from None
        finally:
            connection.close()
        if not 200 <= response.status < 300:
            raise DeliveryFailed(f"the receiver answered {response.status}")
