"""Which failures are the infrastructure's (PostgreSQL or NATS unreachable, full, restarting)
rather than the request's or the event's own.

Such a failure says nothing about the work: the same request or event succeeds once the server is
back. So the API answers it with 503 and ``Retry-After`` (``shared.errors``), and event consumers
retry it until the infrastructure returns instead of counting it toward the dead-letter bound
(``shared.events.consumer``).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket

import asyncpg
import nats.errors
import nats.js.errors

__all__ = ["RETRY_AFTER_SECONDS", "describe_unavailable", "is_unavailable", "log_failure"]

# What a 503 tells the caller to wait: a restarting embedded server is back within seconds.
RETRY_AFTER_SECONDS = 5

_UNAVAILABLE: tuple[type[BaseException], ...] = (
    # PostgreSQL: connection lost or refused (class 08), out of disk, memory or connections
    # (class 53), shutting down, restarting or not accepting connections yet (57P01-57P03).
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.CannotConnectNowError,
    # A deadlock or serialization failure (class 40): PostgreSQL rolled the transaction back whole
    # because of another one at the same moment; the same work succeeds when tried again.
    asyncpg.exceptions.TransactionRollbackError,
    # NATS: nobody to answer, no answer in time, no connection.
    nats.errors.NoRespondersError,
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.ConnectionDrainingError,
    nats.errors.NoServersError,
    nats.errors.StaleConnectionError,
    nats.errors.OutboundBufferLimitError,
    nats.errors.FlushTimeoutError,
    nats.js.errors.ServiceUnavailableError,
    nats.js.errors.NoStreamResponseError,
    # Refused or reset sockets, unresolvable hosts, and timeouts (a pool's acquire, a NATS
    # request: nats' TimeoutError is one too).
    ConnectionError,
    socket.gaierror,
    asyncio.TimeoutError,
)
# Other OSErrors only with these numbers: a missing file or a bad argument is a bug, not an outage.
_UNAVAILABLE_ERRNO = frozenset({
    errno.ECONNREFUSED, errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE, errno.ETIMEDOUT,
    errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ENETDOWN, errno.EADDRNOTAVAIL, errno.ENOSPC,
})


def _closed_connection(exc: BaseException) -> bool:
    # asyncpg raises a bare InterfaceError for a query on a connection the server dropped.
    return isinstance(exc, asyncpg.InterfaceError) and "connection is closed" in str(exc)


def is_unavailable(exc: BaseException) -> bool:
    """True when ``exc`` (or what caused it) is the infrastructure's failure, not the work's."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _UNAVAILABLE) or _closed_connection(current):
            return True
        if isinstance(current, OSError) and current.errno in _UNAVAILABLE_ERRNO:
            return True
        current = current.__cause__ or current.__context__
    return False


def describe_unavailable(exc: BaseException) -> str:
    """Which server is unavailable, in words for a problem's detail."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        module = type(current).__module__
        if module.startswith("asyncpg"):
            if isinstance(current, asyncpg.exceptions.DiskFullError):
                return "The database is out of disk space"
            if isinstance(current, asyncpg.exceptions.TransactionRollbackError):
                return "The database rolled this back because of a simultaneous change"
            return "The database is unavailable"
        if module.startswith("nats"):
            return "The event bus (NATS) is unavailable"
        current = current.__cause__ or current.__context__
    return "A server this request needs is unavailable"


def log_failure(log: logging.Logger, exc: BaseException, message: str, *args: object) -> None:
    """Log a background loop's failed round: one warning line while the infrastructure is away
    (a loop retrying every second would otherwise print a traceback every second of an outage),
    the traceback for anything else, which is a bug."""
    if is_unavailable(exc):
        log.warning(message + ": %s (%s)", *args, describe_unavailable(exc), type(exc).__name__)
    else:
        log.error(message, *args, exc_info=exc)
