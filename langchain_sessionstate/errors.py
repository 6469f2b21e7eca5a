"""One exception tree for the whole library.

    SessionStateError
    ├── InvalidInputError (also ValueError)     bad id, unserialisable state, oversized payload
    │   └── PayloadTooLargeError
    ├── CorruptStateError                       a stored record failed to decode; names its key
    ├── StoreUnavailableError                   a backend could not serve now (down, failover,
    │                                           out of memory, circuit open); retry later
    ├── BackendError                            a backend refused the operation for good
    │                                           (permissions, missing command, misconfiguration)
    └── LeaseHeldError                          another device or worker holds the lease

Absence is ``None``, never an exception. Backend errors are raised from their cause.
"""

from __future__ import annotations

from datetime import datetime


class SessionStateError(Exception):
    """Root of every error this library raises on purpose."""


class InvalidInputError(SessionStateError, ValueError):
    """Caller-supplied input breaks a rule; the message quotes the value and the rule."""


class PayloadTooLargeError(InvalidInputError):
    """An encoded record is larger than the configured maximum."""


class CorruptStateError(SessionStateError):
    """A stored record could not be decoded (truncated, garbled, wrong version).

    Attributes:
        key: the storage key (and field, if any) of the bad record.
    """

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"corrupt record at {key!r}: {reason}")
        self.key = key
        self.reason = reason


class StoreUnavailableError(SessionStateError):
    """A storage backend could not serve the operation now; it did not complete.

    Attributes:
        retryable: an immediate retry may succeed (a reset connection, a failover in
            progress); False when waiting is pointless (a timeout, the circuit is open).
    """

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class BackendError(SessionStateError):
    """A backend refused the operation for a reason retrying will not fix: permissions, a
    missing command or module, a misconfigured server. The message names the command and,
    where known, the key."""


class LeaseHeldError(SessionStateError):
    """The lease (active device, sweeper claim, extraction lock) is held by someone else.

    Attributes:
        holder: the id of the current holder.
        since: when its unbroken hold began, when known.
    """

    def __init__(self, resource: str, holder: str, *, since: datetime | None = None) -> None:
        held = f" since {since:%Y-%m-%d %H:%M} UTC" if since is not None else ""
        super().__init__(
            f"{resource!r} is held by {holder!r}{held}; take it over explicitly to proceed"
        )
        self.resource = resource
        self.holder = holder
        self.since = since
