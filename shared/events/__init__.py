"""The event bus: one envelope, a transactional outbox relayed to JetStream, idempotent consumers.

Modules: ``envelope`` (the Event struct and subjects), ``bus`` (the NATS connection and streams),
``relay`` (outbox -> JetStream), ``consumer`` (durable, idempotent consumers with a dead-letter
stream). Names are loaded lazily: ``shared.db`` imports the envelope, and the relay and consumer
work on ``shared.db``, so importing everything here eagerly would be a cycle.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared.events.bus import DEAD_LETTER_STREAM, MSG_ID_HEADER, Bus, dead_letter_subject, service_stream_name
    from shared.events.consumer import (
        DEFAULT_BACKOFF,
        HDR_CONSUMER,
        HDR_DELIVERIES,
        HDR_ORIGINAL_SUBJECT,
        HDR_REASON,
        MAX_DELIVERIES_REASON,
        EventConsumer,
        Handler,
    )
    from shared.events.envelope import Actor, Event, decode_event, encode_event, new_event, subject_for
    from shared.events.relay import OutboxRelay

_EXPORTS: dict[str, str] = {
    "Actor": "envelope",
    "Event": "envelope",
    "decode_event": "envelope",
    "encode_event": "envelope",
    "new_event": "envelope",
    "subject_for": "envelope",
    "Bus": "bus",
    "DEAD_LETTER_STREAM": "bus",
    "MSG_ID_HEADER": "bus",
    "dead_letter_subject": "bus",
    "service_stream_name": "bus",
    "OutboxRelay": "relay",
    "EventConsumer": "consumer",
    "Handler": "consumer",
    "DEFAULT_BACKOFF": "consumer",
    "HDR_CONSUMER": "consumer",
    "HDR_DELIVERIES": "consumer",
    "HDR_ORIGINAL_SUBJECT": "consumer",
    "HDR_REASON": "consumer",
    "MAX_DELIVERIES_REASON": "consumer",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'shared.events' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"shared.events.{module}"), name)
    globals()[name] = value
    return value
