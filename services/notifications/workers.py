"""The notifications service's background work: a durable consumer per source stream, the push
hub, the mail sender and (without ``HUIKE_SMTP_HOST``) the local SMTP sink."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from services.notifications.db import store
from services.notifications.domain import notify
from services.notifications.domain.sources import subjects
from services.notifications.mail import MailSink, Sender
from services.notifications.push import PAGE, Hub
from shared.events.bus import service_stream_name
from shared.events.consumer import EventConsumer
from shared.events.envelope import Event
from shared.tenancy import scope_for_system

if TYPE_CHECKING:
    from shared.db import Unit
    from shared.runtime import Runtime

SERVICE = "notifications"
SOURCES = ("records", "identity", "workflows")


@dataclass
class State:
    hub: Hub
    sender: Sender
    sink: MailSink | None
    consumers: list[EventConsumer]


# The state of each runtime in this process (tests run one; the API finds it from its runtime).
_STATES: dict[int, State] = {}


def state_of(runtime: Runtime) -> State:
    return _STATES[id(runtime)]


class _Service:
    def __init__(self, runtime: Runtime, state: State) -> None:
        self.runtime = runtime
        self.state = state

    async def stop(self) -> None:
        for consumer in self.state.consumers:
            with contextlib.suppress(Exception):
                await consumer.stop()
        await self.state.sender.stop()
        if self.state.sink is not None:
            await self.state.sink.stop()
        await self.state.hub.stop()
        _STATES.pop(id(self.runtime), None)


async def start_notifications(runtime: Runtime) -> _Service:
    assert runtime.bus is not None and runtime.principals is not None
    settings = runtime.settings
    db = runtime.db(SERVICE)
    sink = None
    host, port = settings.smtp_host, settings.smtp_port
    if not host:
        sink = await MailSink(db, settings.smtp_sink_port).start()
        host, port = "127.0.0.1", sink.port
    sender = await Sender(runtime, host, port).start()
    async def read_many(tenant_id: uuid.UUID, wanted: list[tuple[uuid.UUID, int]]) -> list[Any]:
        # The streams' users are authenticated members of the tenant; RLS holds the read to it.
        async with db.tenant_unit(scope_for_system(tenant_id)) as unit:
            return list(await store.since_many(unit, wanted, PAGE))

    hub = await Hub(runtime.bus.nc, read_many).start()
    public_url = settings.public_url or f"http://{settings.host}:{settings.port}"
    context = notify.Context(runtime.principals, public_url)

    async def handler(unit: Unit, event: Event) -> None:
        context.pushed.pop(event.id, None)  # a retry starts afresh
        await notify.handle(unit, event, context)

    async def batch_handler(unit: Unit, events: list[Event]) -> None:
        await notify.handle_batch(unit, events, context)

    def applied(event: Event) -> None:
        # Committed: wake the recipients' streams on every replica, and the mail sender here.
        for tenant_id, user_id in context.pushed.pop(event.id, set()):
            asyncio.get_running_loop().create_task(hub.publish(tenant_id, user_id))
        sender.wake.set()

    consumers = []
    for source in SOURCES:
        # The source's stream may not exist yet when notifications runs on its own.
        await runtime.bus.ensure_service_stream(source, replicas=settings.nats_stream_replicas,
                                                duplicate_window_seconds=settings.event_duplicate_window_seconds)
        consumer = EventConsumer(runtime.bus, db, name=f"notifications-{source}", stream=service_stream_name(source),
                                 subjects=subjects(source), handler=handler, batch_handler=batch_handler,
                                 on_applied=applied,
                                 max_deliveries=settings.event_max_deliveries,
                                 # Up to 100 events a fetch, a tenant's in one transaction: at 200
                                 # events/s one at a time (~7 round trips and a commit each) falls behind;
                                 # the common case's rows and mails in two statements a batch.
                                 batch_size=100, batched=True)
        await consumer.start()
        consumers.append(consumer)
    state = State(hub=hub, sender=sender, sink=sink, consumers=consumers)
    _STATES[id(runtime)] = state
    return _Service(runtime, state)
