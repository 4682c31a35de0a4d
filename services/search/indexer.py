"""Indexing from records events: a durable JetStream consumer, batched, idempotent, version-ordered.

``IndexConsumer`` is an ``EventConsumer`` (durable, explicit ack, dead letters) that takes up to
``BATCH`` messages per fetch and indexes each tenant's share in one transaction: the inbox rows of
all of them in one statement (a redelivered event is skipped), the documents in one set-based
upsert where the event's version is newer than the stored one (an old event never overwrites a
newer document; deletions leave a versioned tombstone), then acknowledges them. Throughput comes
from the batch, so a 100,000-row import does not queue other tenants' writes for long. When a
batch fails, its messages go through the consumer's ordinary one-by-one path, with its retries
and dead-letter stream. Documents are built in the worker processes of ``building.py`` before the
transaction, so jieba never runs on the event loop.

Two lanes, each its own durable consumer over the same subjects: **live** indexes what people and
programs write one record at a time, **bulk** what an import wrote (events whose data carry an
``import_id``); each acknowledges the other lane's events unread. An import of 100,000 rows is
written faster than documents are built, so on one queue it would hold every later write back
for minutes; on its own lane it takes the time it takes while a record created meanwhile is
searchable at once. Order between lanes needs nothing: documents are applied by record version.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import msgspec
from nats.aio.msg import Msg

from services.search import attachments
from services.search.building import DocumentBuilder, Spec, builder_of
from services.search.documents import TYPES, is_deletion
from services.search.engines import Engine, engine_of
from shared.db import Unit
from shared.errors import TenantGone
from shared.events.bus import service_stream_name
from shared.events.consumer import ConsumerStopping, EventConsumer
from shared.events.envelope import SUBJECT_ROOT, Event, decode_event
from shared.tenancy import scope_from_event

if TYPE_CHECKING:
    from shared.runtime import Runtime

log = logging.getLogger("huike.search.indexer")

CONSUMER_NAME = "search-indexer"
# Records' own events, and their attachments' (a record is found by its files' names too).
SUBJECTS = (*(f"crm.records.*.{entity}.>" for entity in TYPES), f"crm.records.*.{attachments.ENTITY}.>")
BATCH = 256
Lane = Literal["live", "bulk"]
LANES: tuple[Lane, ...] = ("live", "bulk")


def lane_of(event: Event) -> Lane:
    """Imported records go on the bulk lane, everything else on the live one."""
    return "bulk" if event.data.get("import_id") else "live"


def consumer_name(engine: Engine, lane: Lane = "live") -> str:
    """One durable per engine and lane: two engines fed from one database keep their own progress."""
    name = CONSUMER_NAME if engine.name == "postgres" else f"{CONSUMER_NAME}-{engine.name}"
    return name if lane == "live" else f"{name}-bulk"


def specs_of(events: Sequence[Event]) -> list[Spec]:
    """What to build for records events, in order (other entities' events are skipped)."""
    specs = []
    for event in events:
        if event.entity not in TYPES:
            continue
        record = dict(event.data.get("record") or {})
        record.setdefault("id", event.entity_id)
        specs.append(Spec(event.entity, record, event.version, is_deletion(event.action, event.entity_id, event.data),
                          event.data.get("customer_id")))
    return specs


async def index_events(unit: Unit, engine: Engine, builder: DocumentBuilder, events: Sequence[Event]) -> int:
    """Index records events of one tenant (inside its search unit); answers documents changed."""
    docs = await builder.build(specs_of(events))
    changed = await engine.apply(unit, docs) if docs else 0
    touched = await attachments.apply_events(unit, events)
    return changed + await attachments.refresh(unit, engine, docs, touched)


def _decoded(msg: Msg) -> Event | None:
    """The event, or None when the one-by-one path must judge it (undecodable, wrong tenant)."""
    try:
        event = decode_event(msg.data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    parts = msg.subject.split(".")
    if len(parts) != 5 or parts[0] != SUBJECT_ROOT or parts[2] != str(event.tenant_id):
        return None
    return event


class IndexConsumer(EventConsumer):
    """An ``EventConsumer`` of one lane whose fetch loop indexes whole batches per tenant."""

    def __init__(self, runtime: Runtime, engine: Engine, builder: DocumentBuilder, lane: Lane = "live") -> None:
        assert runtime.bus is not None
        self.engine = engine
        self.builder = builder
        self.lane = lane
        super().__init__(
            runtime.bus, runtime.db("search"), name=consumer_name(engine, lane), stream=service_stream_name("records"),
            subjects=SUBJECTS, handler=self._one, batch_size=BATCH, max_ack_pending=BATCH * 20,
        )

    async def _one(self, unit: Unit, event: Event) -> None:
        if lane_of(event) == self.lane:
            await index_events(unit, self.engine, self.builder, [event])

    async def _run(self) -> None:
        assert self._pull is not None
        while not self._stopping.is_set():
            try:
                msgs = await self._pull.fetch(self.batch_size, timeout=self.fetch_timeout)
            except TimeoutError:
                continue
            except Exception as exc:  # noqa: BLE001 - disconnected, consumer deleted...: retry shortly
                log.warning("%r: fetch failed (%s); retrying", self, exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), 1.0)
                continue
            try:
                async with self._kept_alive(msgs):
                    await self._process_batch(msgs)
            except Exception:  # noqa: BLE001 - never let one batch end the loop
                log.exception("%r: batch failed unexpectedly", self)

    async def _process_batch(self, msgs: list[Msg]) -> None:
        by_tenant: dict[str, list[tuple[Msg, Event]]] = defaultdict(list)
        other_lane: list[Msg] = []
        for msg in msgs:
            event = _decoded(msg)
            if event is None:
                if self.lane == "live":  # the live lane judges (and dead-letters) what cannot be read
                    await self._process(msg)
                else:
                    other_lane.append(msg)
            elif lane_of(event) != self.lane:
                other_lane.append(msg)
            else:
                by_tenant[str(event.tenant_id)].append((msg, event))
        for msg in other_lane:
            with contextlib.suppress(Exception):
                await msg.ack()
        groups = list(by_tenant.items())
        for index, (tenant_id, group) in enumerate(groups):
            try:
                # An outage (database, NATS) is waited out here, the whole batch kept alive.
                await self._while_unavailable(lambda t=tenant_id, g=group: self._index_group(t, g),
                                              what=f"a batch of {len(group)} events")
            except ConsumerStopping:
                for _, rest in groups[index:]:
                    for msg, _ in rest:
                        with contextlib.suppress(Exception):
                            await msg.nak()
                return
            except TenantGone:
                pass  # the tenant was deleted: nothing of it is indexed again (shared/tenant_purge.py)
            except Exception as exc:  # noqa: BLE001 - one by one, with retries and dead letters
                log.warning("%r: batch of %d for tenant %s failed (%s); one by one", self, len(group), tenant_id, exc)
                for msg, _ in group:
                    await self._process(msg)
                continue
            for msg, _ in group:
                with contextlib.suppress(Exception):
                    await msg.ack()

    async def _index_group(self, tenant_id: str, group: list[tuple[Msg, Event]]) -> None:
        # Built before the transaction (in the worker processes): no connection is held while
        # jieba runs. A redelivered event is built for nothing, then skipped.
        events = [e for _, e in group if e.entity in TYPES]
        bulk = self.lane == "bulk"  # background work (shared/priority.py)
        docs = await self.builder.build(specs_of(events), background=bulk)
        async with self.db.tenant_unit(scope_from_event(tenant_id), background=bulk) as unit:
            fresh = {r["event_id"] for r in await unit.fetch(
                """INSERT INTO search.inbox (tenant_id, consumer, event_id)
                   SELECT $1, $2, unnest($3::uuid[]) ON CONFLICT DO NOTHING RETURNING event_id""",
                unit.tenant_id, self.name, [e.id for _, e in group],
            )}
            docs = [d for d, e in zip(docs, events, strict=True) if e.id in fresh]
            if docs:
                await self.engine.apply(unit, docs, background=bulk)
            touched = await attachments.apply_events(unit, [e for _, e in group if e.id in fresh])
            await attachments.refresh(unit, self.engine, docs, touched)


class Indexer:
    """The consumers of both lanes, started and stopped together."""

    def __init__(self, consumers: Sequence[IndexConsumer]) -> None:
        self.consumers = list(consumers)

    async def stop(self) -> None:
        await asyncio.gather(*(c.stop() for c in self.consumers))


async def caught_up(runtime: Runtime, *, within: float, poll: float = 0.5) -> bool:
    """True once both lanes' consumers have no event left to deliver or to acknowledge, waiting up
    to ``within`` seconds. A count the index has not reached yet is lag while this is False."""
    assert runtime.bus is not None
    engine, stream = engine_of(runtime), service_stream_name("records")
    deadline = asyncio.get_running_loop().time() + within
    while True:
        infos = [await runtime.bus.js.consumer_info(stream, consumer_name(engine, lane)) for lane in LANES]
        if all(not (i.num_pending or 0) and not (i.num_ack_pending or 0) for i in infos):
            return True
        if asyncio.get_running_loop().time() >= deadline:
            return False
        await asyncio.sleep(poll)


async def start_indexer(runtime: Runtime) -> Indexer:
    engine, builder = engine_of(runtime), builder_of(runtime)
    indexer = Indexer([IndexConsumer(runtime, engine, builder, lane) for lane in LANES])
    for consumer in indexer.consumers:
        await consumer.start()
    return indexer
