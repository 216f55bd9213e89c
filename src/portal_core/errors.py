"""The portal's one error tree: every failure a use case or adapter reports to its caller."""

from __future__ import annotations


class PortalError(Exception):
    """Base of every error the portal raises on purpose. Its message is safe to show to the person at fault."""


class InvalidInput(PortalError):
    """Input that breaks a rule of the domain (a malformed email, a due date before the issue date, ...)."""


class InvalidEmail(InvalidInput):
    pass


class RequestFormInvalid(InvalidInput):
    """A new-request form with fields that break the rules; `fields` maps each bad field to its message."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("; ".join(f"{name}: {message}" for name, message in fields.items()))
        self.fields = dict(fields)


class InvalidAmount(InvalidInput):
    pass


class UnknownCurrency(InvalidInput):
    pass


class CurrencyMismatch(InvalidInput):
    pass


class InvalidSeed(InvalidInput):
    """A seed document that cannot be loaded; nothing of it was written."""


class NotFound(PortalError):
    """The record does not exist, or the caller may not know that it does (both look the same)."""


class UnknownCompany(NotFound):
    pass


class UnknownContact(NotFound):
    pass


class UnknownRecord(NotFound):
    pass


class PortalUnavailable(NotFound):
    """The portal link is unknown, rotated, or the company's portal access is disabled."""


class SignInError(PortalError):
    pass


class Throttled(SignInError):
    """Too many requests; the message tells the client to wait and reveals nothing else. `limit` names the limit
    that was reached (for the operator's log line, never for the client)."""

    def __init__(self, message: str, *, limit: str = "", retry_after: int | None = None) -> None:
        super().__init__(message)
        self.limit = limit
        self.retry_after = retry_after  # seconds, when the wait is known


class CodeRejected(SignInError):
    """The code is wrong, expired, used, or dead; the message is the same in every case."""


class NotAuthenticated(PortalError):
    """An API call without a live API key (none, a wrong one, or a revoked one: the same answer)."""


class NotSignedIn(PortalError):
    """There is no live session for this portal (none, expired, ended, or access since revoked)."""


class DeliveryFailed(PortalError):
    """An email could not be handed to the mail relay."""


class StorageError(PortalError):
    """File contents could not be stored or read."""


class PaymentError(PortalError):
    """A payment could not be started or checked; the invoice is unchanged."""


class PaymentsNotConfigured(NotFound):
    """No payment provider is connected (Pay Now does not exist)."""


class InvalidSignature(PaymentError):
    """A provider callback whose signature does not verify."""


class PaymentNotPossible(InvalidInput):
    """This invoice cannot be paid online as asked (nothing to pay, or no provider can take the amount exactly)."""


class CredentialsUnreadable(PaymentError):
    """Stored provider credentials cannot be decrypted (PORTAL_SECRET_KEY changed): connect the provider again."""


class InvalidTransition(InvalidInput):
    """A document cannot move to the requested state (sending a void invoice, ...)."""


class Conflict(PortalError):
    """A write that clashes with what is stored: a duplicate id or key, or a reference to a missing record.

    Raised by every repository adapter, so the core can handle races (two submits of one form) without knowing the
    store's own exceptions.
    """


class RecordMissing(PortalError, KeyError):
    """An update of a record that is not stored (a programming error in the caller, or a record deleted meanwhile).

    Also a KeyError, as it was before it had a name, so that callers catching KeyError keep working.
    """

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class CrmOwnedRecord(PortalError):
    """A write to a record the CRM owns, through an embedding's read-only repository: change it in the CRM."""


class DatabaseUnavailable(PortalError):
    """The database cannot be reached right now; retry later."""
