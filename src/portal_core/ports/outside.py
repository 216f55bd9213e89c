"""The ports to the world outside the database: time, randomness, mail, file contents, payment providers and their
credentials, documents as PDF, webhook receivers, and the schema's state. Each is a small Protocol naming the
errors it may raise."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import BinaryIO, Protocol

from portal_core.model.mail import Email, Notice
from portal_core.model.payment import (
    Checkout,
    CheckoutRequest,
    PaymentOutcome,
    ProviderEvent,
)
from portal_core.model.printable import Document


class Progress(Protocol):
    """Told how far long work has got (`done` of `total` steps): a progress bar, a log line, or nothing at all."""

    def __call__(self, done: int, total: int) -> None: ...


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current time, timezone-aware UTC."""
        ...


class Randomness(Protocol):
    """A source of secure randomness (secrets in production, seeded in tests)."""

    def token(self, nbytes: int) -> str:
        """A url-safe token carrying nbytes of randomness."""
        ...

    def digits(self, count: int) -> str:
        """count decimal digits, uniform."""
        ...


class EmailSender(Protocol):
    def send(self, email: Email) -> None:
        """Hands the message to the mail relay. Raises DeliveryFailed when it could not (refused, down, timeout)."""
        ...


class EmailTemplates(Protocol):
    def render(self, notice: Notice, to: str) -> Email:
        """Turns what the core wants to say into a branded multipart message."""
        ...


class FileStorage(Protocol):
    """Stores file contents by content hash. Raises StorageError when the store fails."""

    def put(self, stream: BinaryIO) -> tuple[str, int]:
        """Stores the bytes read from stream; returns (content hash, size). Atomic: all or nothing."""
        ...

    def open(self, content_hash: str) -> BinaryIO:
        """Opens stored contents for reading. Raises StorageError if they are missing."""
        ...


class WebhookTransport(Protocol):
    """POSTs a signed event to a receiver."""

    def refusal(self, url: str) -> str:
        """Why the portal will not call this URL ('' when it will): not http(s), or an address on loopback or a
        private range (unless this portal allows those)."""
        ...

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> None:
        """Raises DeliveryFailed for anything but a 2xx answer in time (a timeout, a refused connection, a
        redirect, a 4xx or 5xx, or a URL that refusal() now refuses)."""
        ...


class CredentialVault(Protocol):
    """Encrypts provider credentials at rest. open() raises CredentialsUnreadable when the key no longer fits."""

    def seal(self, plain: bytes) -> str: ...
    def open(self, sealed: str) -> bytes: ...


class PaymentGateway(Protocol):
    """A payment provider's hosted payment page. Every method raises PaymentError when the provider cannot be
    reached, times out or answers with an error; parse_webhook raises InvalidSignature for an unverified call."""

    def start_checkout(self, request: CheckoutRequest) -> Checkout:
        """Opens a hosted payment page for exactly request.amount; returns its URL and the provider's reference."""
        ...

    def check(self, provider_ref: str) -> PaymentOutcome:
        """Asks the provider what became of an attempt."""
        ...

    def parse_webhook(self, payload: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        """Verifies and reads a push notification (providers without push raise PaymentError)."""
        ...


class GatewayFactory(Protocol):
    """Builds a provider's gateway from its decrypted credentials (they are read from the database per use)."""

    def __call__(self, credentials: Mapping[str, str]) -> PaymentGateway: ...


class SchemaStatus(Protocol):
    """Where the database's schema stands against the code's. current_revision raises DatabaseUnavailable when the
    database cannot be reached."""

    def current_revision(self) -> str | None:
        """The revision the database is migrated to, or None when it was never migrated."""
        ...

    def expected_revision(self) -> str:
        """The newest revision this code knows (what `portal db upgrade` migrates to)."""
        ...


class DocumentRenderer(Protocol):
    """Lays a document out as a PDF whose text is real text (selectable and extractable)."""

    def render(self, document: Document) -> bytes: ...
