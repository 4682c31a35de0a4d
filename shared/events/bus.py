"""The NATS connection every service in a process shares, and the JetStream streams it relies on.

Streams:
- one per service, ``CRM_<SERVICE>`` on ``crm.<service>.>``: the events that service publishes
  through its outbox relay. File storage; the duplicate window (``Nats-Msg-Id`` = event id) must be
  longer than the relay's worst retry gap, so a batch republished after a crash is stored once.
- ``CRM_DEAD_LETTERS`` on ``dlq.>``: copies of events a consumer gave up on, with the reason
  (JetStream has no dead-letter queue of its own; see ``shared.events.consumer``).

Every ``ensure_*`` is idempotent: it creates the stream, or updates it to the given configuration.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import nats
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig, StreamInfo
from nats.js.errors import BadRequestError

log = logging.getLogger("huike.events.bus")

__all__ = [
    "Bus",
    "DEAD_LETTER_STREAM",
    "DEAD_LETTER_SUBJECT_ROOT",
    "MSG_ID_HEADER",
    "dead_letter_subject",
    "service_stream_name",
]

MSG_ID_HEADER = "Nats-Msg-Id"  # JetStream's de-duplication key (nats-py's publish has no argument for it)
DEAD_LETTER_STREAM = "CRM_DEAD_LETTERS"
DEAD_LETTER_SUBJECT_ROOT = "dlq"
# JetStream answers this when a stream exists with another configuration.
_STREAM_NAME_IN_USE = 10058


def service_stream_name(service: str) -> str:
    """``CRM_<SERVICE>``: the stream holding the events of one service."""
    return f"CRM_{service.upper()}"


def dead_letter_subject(stream: str, consumer: str) -> str:
    """``dlq.<stream>.<consumer>``: where a consumer's given-up messages are copied."""
    return f"{DEAD_LETTER_SUBJECT_ROOT}.{stream}.{consumer}"


class _ConnectionLog:
    """nats-py's connection callbacks, as log lines (quiet about the disconnect of our own close)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.closing = False
        self.reconnect_listeners: list[Callable[[], None]] = []

    async def error(self, exc: Exception) -> None:
        log.warning("nats %s: %s", self.name, exc)

    async def disconnected(self) -> None:
        if not self.closing:
            log.warning("nats %s: disconnected; reconnecting", self.name)

    async def reconnected(self) -> None:
        log.warning("nats %s: reconnected", self.name)
        for listener in self.reconnect_listeners:
            try:
                listener()
            except Exception:  # noqa: BLE001 - one listener's bug must not stop the others
                log.exception("nats %s: reconnect listener failed", self.name)


class Bus:
    """A nats-py connection and its JetStream context."""

    def __init__(self, nc: NATS, *, publish_timeout: float = 5.0, connection_log: _ConnectionLog | None = None) -> None:
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream(timeout=publish_timeout)
        self._connection_log = connection_log

    @classmethod
    async def connect(
        cls,
        url: str | list[str],
        *,
        name: str = "huike",
        connect_timeout: float = 5.0,
        reconnect_time_wait: float = 1.0,
        max_reconnect_attempts: int = -1,
        publish_timeout: float = 5.0,
    ) -> Bus:
        """Connect, and keep reconnecting forever once connected (the relay and consumers ride it out).

        The first connection must succeed, so that a mis-configured URL fails start-up loudly.
        """
        connection_log = _ConnectionLog(name)
        nc: NATS = await nats.connect(
            servers=url if isinstance(url, list) else [url],
            name=name,
            connect_timeout=connect_timeout,  # type: ignore[arg-type] - nats-py accepts floats
            reconnect_time_wait=reconnect_time_wait,  # type: ignore[arg-type]
            max_reconnect_attempts=max_reconnect_attempts,
            error_cb=connection_log.error,
            disconnected_cb=connection_log.disconnected,
            reconnected_cb=connection_log.reconnected,
        )
        return cls(nc, publish_timeout=publish_timeout, connection_log=connection_log)

    def on_reconnect(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` each time the connection comes back (messages meanwhile were missed)."""
        if self._connection_log is None:
            raise RuntimeError("this Bus was not made by Bus.connect; it has no reconnect callback")
        self._connection_log.reconnect_listeners.append(listener)

    @property
    def is_connected(self) -> bool:
        return bool(self.nc.is_connected)

    async def close(self) -> None:
        """Drain: deliver what subscriptions hold, flush pending publishes and acks, then close."""
        if self.nc.is_closed:
            return
        if self._connection_log is not None:
            self._connection_log.closing = True
        try:
            await self.nc.drain()
        except Exception as exc:  # noqa: BLE001 - reconnecting or already draining: just close
            log.info("nats drain failed (%s); closing", exc)
            if not self.nc.is_closed:
                await self.nc.close()

    # --- streams ---------------------------------------------------------------------------------

    async def ensure_stream(self, config: StreamConfig) -> StreamInfo:
        """Create the stream, or update it when it exists with another configuration."""
        try:
            return await self.js.add_stream(config)
        except BadRequestError as exc:
            if exc.err_code != _STREAM_NAME_IN_USE:
                raise
        log.info("updating stream %s", config.name)
        return await self.js.update_stream(config)

    async def ensure_service_stream(
        self,
        service: str,
        replicas: int = 1,
        duplicate_window_seconds: float = 7200,
        max_age_seconds: float | None = None,
    ) -> StreamInfo:
        """``CRM_<SERVICE>`` on ``crm.<service>.>``, file storage, kept until ``max_age`` (default: forever)."""
        return await self.ensure_stream(
            StreamConfig(
                name=service_stream_name(service),
                description=f"Events published by the {service} service",
                subjects=[f"crm.{service}.>"],
                retention=RetentionPolicy.LIMITS,
                discard=DiscardPolicy.OLD,
                storage=StorageType.FILE,
                num_replicas=replicas,
                duplicate_window=duplicate_window_seconds,
                max_age=max_age_seconds or 0,
            )
        )

    async def ensure_dead_letter_stream(
        self, replicas: int = 1, duplicate_window_seconds: float = 7200
    ) -> StreamInfo:
        """``CRM_DEAD_LETTERS`` on ``dlq.>``: kept until an operator deals with them."""
        return await self.ensure_stream(
            StreamConfig(
                name=DEAD_LETTER_STREAM,
                description="Events that consumers gave up on, with the reason",
                subjects=[f"{DEAD_LETTER_SUBJECT_ROOT}.>"],
                retention=RetentionPolicy.LIMITS,
                discard=DiscardPolicy.OLD,
                storage=StorageType.FILE,
                num_replicas=replicas,
                duplicate_window=duplicate_window_seconds,
            )
        )

    def __repr__(self) -> str:
        server: Any = self.nc.connected_url
        return f"Bus({server.netloc if server else 'disconnected'})"
