"""The event bus against real PostgreSQL and NATS JetStream: outbox relay, consumers, dead letters.

Every test gets its own service name (so its own stream ``CRM_<SERVICE>``) and its own consumer
names; all share the ``evtest`` schema, whose outbox each test leaves empty.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from nats.js.api import StorageType
from nats.js.errors import NotFoundError
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from shared.db import Database, ServiceDatabase, Unit
from shared.db.migrations import migrate
from shared.events import (
    DEAD_LETTER_STREAM,
    MSG_ID_HEADER,
    Bus,
    EventConsumer,
    OutboxRelay,
    dead_letter_subject,
    service_stream_name,
)
from shared.events.consumer import (
    HDR_CONSUMER,
    HDR_DELIVERIES,
    HDR_ORIGINAL_SUBJECT,
    HDR_REASON,
    MAX_DELIVERIES_REASON,
)
from shared.events.envelope import Actor, Event, decode_event, encode_event, new_event
from shared.tenancy import scope_for_system

SCHEMA = "evtest"
SYSTEM = Actor(kind="system")

ITEMS_MIGRATION = """
CREATE TABLE evtest.items (
  tenant_id uuid NOT NULL,
  id        uuid NOT NULL,
  name      text NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
SELECT huike.enable_tenant_rls('evtest.items');
"""


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def evdb(infra: Any, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Database]:
    migrations = tmp_path_factory.mktemp("evtest-migrations")
    (migrations / "0001_items.sql").write_text(ITEMS_MIGRATION)
    await migrate(infra.owner_url, SCHEMA, migrations, "huike_app")
    db = await Database.connect(infra.app_url, min_size=1, max_size=8)
    yield db
    await db.close()


@pytest.fixture(scope="module")
async def bus(infra: Any) -> AsyncIterator[Bus]:
    b = await Bus.connect(infra.nats_url, name="huike-test-events", reconnect_time_wait=0.2)
    await b.ensure_dead_letter_stream()
    yield b
    await b.close()


@dataclass
class Service:
    """A producing service of one test: its name, its stream, its view of the evtest schema."""

    name: str
    stream: str
    db: ServiceDatabase


@pytest.fixture
async def service(evdb: Database, bus: Bus, infra: Any) -> AsyncIterator[Service]:
    name = f"evt{uuid.uuid4().hex[:10]}"
    await bus.ensure_service_stream(name, duplicate_window_seconds=600)
    yield Service(name, service_stream_name(name), evdb.for_service(name, schema=SCHEMA))
    # Leave the shared outbox empty even when a test failed, so the next test's relay starts clean.
    conn = await asyncpg.connect(infra.owner_url)
    try:
        await conn.execute(f"DELETE FROM {SCHEMA}.outbox")
    finally:
        await conn.close()
    with contextlib.suppress(NotFoundError):
        await bus.js.delete_stream(service_stream_name(name))


RelayFactory = Callable[..., OutboxRelay]


@pytest.fixture
async def relays(service: Service, bus: Bus) -> AsyncIterator[RelayFactory]:
    made: list[OutboxRelay] = []

    def make(cls: type[OutboxRelay] = OutboxRelay, on_bus: Bus | None = None, **options: Any) -> OutboxRelay:
        options.setdefault("standby_interval", 0.1)
        options.setdefault("max_backoff", 0.5)
        relay = cls(service.db, on_bus or bus, **options)
        made.append(relay)
        return relay

    yield make
    for relay in made:
        with contextlib.suppress(asyncio.CancelledError):
            await relay.stop()


ConsumerFactory = Callable[..., EventConsumer]


@pytest.fixture
def consumer_db(evdb: Database) -> ServiceDatabase:
    return evdb.for_service("evconsumer", schema=SCHEMA)


@pytest.fixture
async def consumers(service: Service, bus: Bus, consumer_db: ServiceDatabase) -> AsyncIterator[ConsumerFactory]:
    made: list[EventConsumer] = []

    def make(handler: Callable[[Unit, Event], Awaitable[None]], **options: Any) -> EventConsumer:
        options.setdefault("name", f"c{uuid.uuid4().hex[:10]}")
        options.setdefault("stream", service.stream)
        options.setdefault("subjects", [f"crm.{service.name}.>"])
        options.setdefault("backoff", [0.05])
        options.setdefault("fetch_timeout", 0.5)
        consumer = EventConsumer(bus, consumer_db, handler=handler, **options)
        made.append(consumer)
        return consumer

    yield make
    for consumer in made:
        await consumer.stop()


# --- helpers -------------------------------------------------------------------------------------


class Rollback(Exception):
    pass


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)


async def create_item(
    svc: Service, tenant: uuid.UUID, name: str, *, roll_back: bool = False, emitted: list[Event] | None = None
) -> Event:
    """A change and its event, in one unit of work (rolled back on request, after the emit)."""
    async with svc.db.tenant_unit(scope_for_system(tenant)) as unit:
        item_id = uuid.uuid4()
        await unit.execute(f"INSERT INTO {SCHEMA}.items (tenant_id, id, name) VALUES ($1, $2, $3)", tenant, item_id, name)
        event = await unit.emit("item", "created", item_id, actor=SYSTEM, data={"name": name})
        if emitted is not None:
            emitted.append(event)
        if roll_back:
            raise Rollback
    return event


async def outbox_size(db: ServiceDatabase) -> int:
    async with db.system_unit() as unit:
        return int(await unit.fetchval(f"SELECT count(*) FROM {SCHEMA}.outbox"))


async def stream_messages(bus: Bus, stream: str, subject: str = ">") -> list[Any]:
    """Every message stored in ``stream`` on ``subject``, in stream order."""
    found, seq = [], 1
    while True:
        try:
            msg = await bus.js.get_msg(stream, seq=seq, subject=subject, next=True)
        except NotFoundError:
            return found
        found.append(msg)
        seq = msg.seq + 1


async def stream_count(bus: Bus, stream: str) -> int:
    return int((await bus.js.stream_info(stream)).state.messages)


async def items_of(db: ServiceDatabase, tenant: uuid.UUID) -> list[str]:
    async with db.tenant_unit(scope_for_system(tenant)) as unit:
        return [r["name"] for r in await unit.fetch(f"SELECT name FROM {SCHEMA}.items ORDER BY name")]


async def publish(bus: Bus, event: Event, msg_id: str | None = None) -> None:
    """Publish an envelope the way the relay does (used to drive consumers directly)."""
    await bus.js.publish(event.subject, encode_event(event), headers={MSG_ID_HEADER: msg_id or str(event.id)})


def item_event(svc: Service, tenant: uuid.UUID, name: str) -> Event:
    return new_event(service=svc.name, tenant_id=tenant, entity="item", action="created",
                     entity_id=uuid.uuid4(), actor=SYSTEM, data={"name": name})


async def insert_item(unit: Unit, event: Event) -> None:
    """A handler with a plain INSERT: applying one event twice would fail on the primary key."""
    await unit.execute(f"INSERT INTO {SCHEMA}.items (tenant_id, id, name) VALUES ($1, $2, $3)",
                       event.tenant_id, uuid.UUID(event.entity_id), event.data["name"])


async def consumer_settled(bus: Bus, consumer: EventConsumer) -> bool:
    """Nothing left to deliver and nothing delivered but unacknowledged."""
    info = await bus.js.consumer_info(consumer.stream, consumer.name)
    return info.num_pending == 0 and info.num_ack_pending == 0


# --- the bus -------------------------------------------------------------------------------------


async def test_streams_are_created_and_updated_idempotently(bus: Bus) -> None:
    name = f"evt{uuid.uuid4().hex[:10]}"
    try:
        first = await bus.ensure_service_stream(name, duplicate_window_seconds=600)
        again = await bus.ensure_service_stream(name, duplicate_window_seconds=600)
        changed = await bus.ensure_service_stream(name, duplicate_window_seconds=900)
        assert first.config.name == again.config.name == f"CRM_{name.upper()}"
        assert first.config.subjects == [f"crm.{name}.>"]
        assert first.config.storage == StorageType.FILE
        assert first.config.duplicate_window == 600
        assert changed.config.duplicate_window == 900
    finally:
        await bus.js.delete_stream(service_stream_name(name))
    dead = await bus.ensure_dead_letter_stream()
    assert dead.config.name == DEAD_LETTER_STREAM
    assert dead.config.subjects == ["dlq.>"]
    assert dead.config.storage == StorageType.FILE
    assert bus.is_connected


# --- the relay -----------------------------------------------------------------------------------


async def test_each_committed_change_is_published_once_and_rolled_back_ones_never(
    service: Service, bus: Bus, relays: RelayFactory
) -> None:
    tenant = uuid.uuid4()
    relay = relays()
    await relay.start()
    committed: list[Event] = []
    rolled_back: list[Event] = []
    for i in range(6):
        if i in (2, 4):
            with pytest.raises(Rollback):
                await create_item(service, tenant, f"gone-{i}", roll_back=True, emitted=rolled_back)
        else:
            committed.append(await create_item(service, tenant, f"item-{i}"))
    assert len(rolled_back) == 2  # they were emitted, then rolled back with their change

    await eventually(lambda: _true_if(outbox_size(service.db), 0), what="an empty outbox")
    await eventually(lambda: _at_least(relay, len(committed)), what="the relay to publish")
    messages = await stream_messages(bus, service.stream)
    # Exactly the committed events, each once, in commit order, with their ids as Nats-Msg-Id.
    assert [m.headers[MSG_ID_HEADER] for m in messages] == [str(e.id) for e in committed]
    assert [decode_event(m.data) for m in messages] == committed
    assert not {str(e.id) for e in rolled_back} & {m.headers[MSG_ID_HEADER] for m in messages}
    assert [m.subject for m in messages] == [e.subject for e in committed]
    assert await items_of(service.db, tenant) == ["item-0", "item-1", "item-3", "item-5"]
    assert relay.published == len(committed)


async def _true_if(value: Awaitable[Any], expected: Any) -> bool:
    return (await value) == expected


async def _at_least(relay: OutboxRelay, count: int) -> bool:
    return relay.published >= count


async def test_bulk_events_wait_for_the_others_and_keep_their_own_order(
    service: Service, bus: Bus, relays: RelayFactory
) -> None:
    tenant = uuid.uuid4()
    async with service.db.tenant_unit(scope_for_system(tenant)) as unit:
        imported = [new_event(service=service.name, tenant_id=tenant, entity="item", action="created", entity_id=uuid.uuid4(),
                              actor=SYSTEM, data={"name": f"imported-{i}"}) for i in range(5)]
        await unit.write_events(imported, bulk=True)
    typed = [await create_item(service, tenant, f"typed-{i}") for i in range(2)]  # written after the import
    relay = relays(batch_size=3)
    await relay.start()
    await eventually(lambda: _true_if(outbox_size(service.db), 0), what="an empty outbox")
    messages = await stream_messages(bus, service.stream)
    assert [m.headers[MSG_ID_HEADER] for m in messages] == [str(e.id) for e in typed + imported]


def _relay_process(infra: Any, service: Service) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603 - our own module
        [sys.executable, "-m", "tests.shared.relay_process", infra.app_url, infra.nats_url, service.name, SCHEMA],
        cwd=Path(__file__).parents[2], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def _write_events(service: Service, total: int) -> list[Event]:
    tenant = uuid.uuid4()
    async with service.db.tenant_unit(scope_for_system(tenant)) as unit:
        events = [new_event(service=service.name, tenant_id=tenant, entity="item", action="created",
                            entity_id=uuid.uuid4(), actor=SYSTEM, data={"name": f"item-{i}"}) for i in range(total)]
        await unit.write_events(events)
    return events


async def _frozen_between_publish_and_delete(process: subprocess.Popen[bytes], bus: Bus, service: Service,
                                             total: int) -> None:
    """Freeze the relay process (SIGSTOP) now and then until it is caught having published rows it
    has not deleted yet (the moment a crash is most likely to duplicate or lose events); it is
    left frozen there."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        await asyncio.sleep(0.005)
        process.send_signal(signal.SIGSTOP)
        left = await outbox_size(service.db)
        if left > 0 and await stream_count(bus, service.stream) > total - left:
            return
        process.send_signal(signal.SIGCONT)
    raise AssertionError("never caught the relay process between publishing and deleting")


async def _each_published_once(bus: Bus, service: Service, events: list[Event]) -> None:
    await eventually(lambda: _true_if(outbox_size(service.db), 0), timeout=60, what="an empty outbox")
    messages = await stream_messages(bus, service.stream)
    assert len(messages) == len(events)  # rows published before the crash were dropped as duplicates
    assert [m.headers[MSG_ID_HEADER] for m in messages] == [str(e.id) for e in events]


async def test_relay_process_killed_mid_batch_publishes_each_event_once_after_restart(
    service: Service, bus: Bus, relays: RelayFactory, infra: Any
) -> None:
    total = 3000
    events = await _write_events(service, total)
    process = _relay_process(infra, service)
    try:
        await _frozen_between_publish_and_delete(process, bus, service, total)
        process.kill()  # SIGKILL: its transaction dies with its connection, the rows stay
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert await outbox_size(service.db) > 0
    restarted = relays()  # once PostgreSQL has dropped the dead process's lock
    await restarted.start()
    await _each_published_once(bus, service, events)


async def test_relay_recovers_when_its_database_connection_dies_mid_batch(
    service: Service, bus: Bus, infra: Any
) -> None:
    total = 3000
    events = await _write_events(service, total)
    process = _relay_process(infra, service)
    try:
        await _frozen_between_publish_and_delete(process, bus, service, total)
        owner = await asyncpg.connect(infra.owner_url)
        try:
            killed = await owner.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
                f"huike-outbox-relay:{SCHEMA}",
            )
        finally:
            await owner.close()
        assert killed == 1
        process.send_signal(signal.SIGCONT)  # its DELETE now fails; it must reconnect, lock again, republish
        await _each_published_once(bus, service, events)
        assert process.poll() is None  # the same process recovered
    finally:
        process.kill()
        process.wait(10)


async def test_notify_wakes_the_relay_without_polling(service: Service, bus: Bus, relays: RelayFactory) -> None:
    relay = relays(poll_interval=60)  # a missed NOTIFY would show as a 60 s wait
    await relay.start()
    await eventually(lambda: _is_active(relay), what="the relay to take the lock")
    await asyncio.sleep(0.2)  # idle, listening
    received: asyncio.Future[float] = asyncio.get_running_loop().create_future()

    async def on_message(_msg: Any) -> None:
        if not received.done():
            received.set_result(time.monotonic())

    sub = await bus.nc.subscribe(f"crm.{service.name}.>", cb=on_message)
    try:
        started = time.monotonic()
        await create_item(service, uuid.uuid4(), "notified")
        arrived = await asyncio.wait_for(received, 5)
    finally:
        await sub.unsubscribe()
    assert arrived - started < 2.0


async def _is_active(relay: OutboxRelay) -> bool:
    return relay.is_active


async def test_slow_poll_publishes_rows_whose_notify_was_missed(
    service: Service, bus: Bus, relays: RelayFactory, infra: Any
) -> None:
    relay = relays(poll_interval=0.3)
    await relay.start()
    await eventually(lambda: _is_active(relay), what="the relay to take the lock")
    event = item_event(service, uuid.uuid4(), "silent")
    owner = await asyncpg.connect(infra.owner_url)
    try:
        try:  # replica mode skips the NOTIFY trigger; needs a superuser owner (true when embedded)
            await owner.execute("SET session_replication_role = replica")
        except asyncpg.InsufficientPrivilegeError:
            pytest.skip("the owner role cannot skip triggers here")
        await owner.execute(
            f"INSERT INTO {SCHEMA}.outbox (id, tenant_id, subject, payload) VALUES ($1, $2, $3, $4)",
            event.id, event.tenant_id, event.subject, encode_event(event),
        )
    finally:
        await owner.close()
    await eventually(lambda: _true_if(stream_count(bus, service.stream), 1), timeout=5, what="the polled event")
    assert (await stream_messages(bus, service.stream))[0].headers[MSG_ID_HEADER] == str(event.id)


async def test_only_one_relay_per_schema_is_active_and_a_standby_takes_over(
    service: Service, bus: Bus, relays: RelayFactory
) -> None:
    first, second = relays(), relays()
    await first.start()
    await eventually(lambda: _is_active(first), what="the first relay to take the lock")
    await second.start()
    await asyncio.sleep(0.3)  # several standby retries
    assert first.is_active and not second.is_active
    tenant = uuid.uuid4()
    await create_item(service, tenant, "one")
    await eventually(lambda: _true_if(stream_count(bus, service.stream), 1), what="the first event")

    await first.stop()
    await eventually(lambda: _is_active(second), what="the standby to take over")
    await create_item(service, tenant, "two")
    await eventually(lambda: _true_if(stream_count(bus, service.stream), 2), what="the second event")
    await eventually(lambda: _at_least(second, 1), what="the standby to count its publish")
    assert first.published == 1 and second.published == 1


async def test_relay_rides_out_a_nats_outage_without_loss_or_reordering(
    service: Service, relays: RelayFactory, tmp_path: Path
) -> None:
    from shared.embedded import EmbeddedNats

    nats_server = EmbeddedNats(tmp_path / "nats-outage")
    nats_server.start()
    own_bus = await Bus.connect(nats_server.url, name="huike-test-outage", reconnect_time_wait=0.1)
    relay: OutboxRelay | None = None
    try:
        await own_bus.ensure_service_stream(service.name, duplicate_window_seconds=600)
        relay = relays(on_bus=own_bus, publish_timeout=0.5, max_backoff=0.3)
        await relay.start()
        tenant = uuid.uuid4()
        events = [await create_item(service, tenant, "before-0"), await create_item(service, tenant, "before-1")]
        await eventually(lambda: _true_if(outbox_size(service.db), 0), what="the first events")

        nats_server.stop()
        events += [await create_item(service, tenant, f"during-{i}") for i in range(3)]
        await asyncio.sleep(0.8)  # the relay tries, fails and backs off
        assert await outbox_size(service.db) == 3

        nats_server.start()  # same port, same store: the stream and its first two events survive
        await eventually(lambda: _true_if(outbox_size(service.db), 0), timeout=15, what="the outage backlog")
        messages = await stream_messages(own_bus, service.stream)
        assert [m.headers[MSG_ID_HEADER] for m in messages] == [str(e.id) for e in events]
    finally:
        if relay is not None:
            await relay.stop()
        await own_bus.close()
        nats_server.stop()


# --- consumers -----------------------------------------------------------------------------------


async def test_consumer_applies_events_once_even_when_redelivered(
    service: Service, bus: Bus, consumers: ConsumerFactory, consumer_db: ServiceDatabase
) -> None:
    tenant = uuid.uuid4()
    handled: list[uuid.UUID] = []

    async def handler(unit: Unit, event: Event) -> None:
        await insert_item(unit, event)
        handled.append(event.id)

    consumer = consumers(handler)
    await consumer.start()
    first, sentinel = item_event(service, tenant, "first"), item_event(service, tenant, "sentinel")
    await publish(bus, first)
    # The same envelope again under another message id: JetStream stores it a second time.
    await publish(bus, first, msg_id=f"{first.id}-again")
    await publish(bus, sentinel)
    assert await stream_count(bus, service.stream) == 3

    await eventually(lambda: _contains(handled, sentinel.id), what="the sentinel to be handled")
    await eventually(lambda: consumer_settled(bus, consumer), what="every message to be acknowledged")
    assert handled == [first.id, sentinel.id]  # the redelivered event did not reach the handler
    assert await items_of(consumer_db, tenant) == ["first", "sentinel"]
    with pytest.raises(NotFoundError):  # nothing failed
        await bus.js.get_msg(DEAD_LETTER_STREAM, subject=consumer.dead_letter_subject)
    async with consumer_db.tenant_unit(scope_for_system(tenant)) as unit:
        recorded = await unit.fetch(f"SELECT event_id FROM {SCHEMA}.inbox WHERE consumer = $1", consumer.name)
    assert {r["event_id"] for r in recorded} == {first.id, sentinel.id}


async def test_a_batched_consumer_commits_a_fetch_together_and_dead_letters_a_poison_event_alone(
    service: Service, bus: Bus, consumers: ConsumerFactory, consumer_db: ServiceDatabase
) -> None:
    """``batched=True``: the events of one fetch and tenant commit in one transaction; an event
    whose handler fails makes that batch fall back to one event at a time, so the good events are
    still applied once and only the poison one reaches the dead-letter stream."""
    tenant, other = uuid.uuid4(), uuid.uuid4()
    handled: list[tuple[uuid.UUID, int]] = []

    async def handler(unit: Unit, event: Event) -> None:
        await insert_item(unit, event)
        if event.data["name"] == "poison":
            raise RuntimeError("cannot apply this one")
        handled.append((event.id, int(await unit.fetchval("SELECT txid_current()"))))

    good = [item_event(service, tenant, f"good-{i}") for i in range(4)]
    poison = item_event(service, tenant, "poison")
    theirs = item_event(service, other, "theirs")
    # Published before the consumer starts, so one fetch takes them all (with a redelivered copy).
    for event in [*good[:2], poison, *good[2:], theirs]:
        await publish(bus, event)
    await publish(bus, good[0], msg_id=f"{good[0].id}-again")
    consumer = consumers(handler, max_deliveries=2, batch_size=20, batched=True)
    await consumer.start()

    dead = await eventually(lambda: _dead_letters(bus, consumer), what="the poison event's dead letter")
    await eventually(lambda: consumer_settled(bus, consumer), what="every message to be acknowledged")
    assert [decode_event(letter.data).id for letter in dead] == [poison.id]
    assert "cannot apply this one" in dead[0].headers[HDR_REASON]
    assert await items_of(consumer_db, tenant) == ["good-0", "good-1", "good-2", "good-3"]
    assert await items_of(consumer_db, other) == ["theirs"]
    # (the items' primary key proves each good event, and the redelivered copy, was applied once; the
    # batch the poison event rolled back was tried again one event at a time)
    assert {event_id for event_id, _ in handled} == {e.id for e in good} | {theirs.id}

    # Without a poison event, a tenant's events of one fetch share one transaction.
    handled.clear()
    calm = [item_event(service, tenant, f"calm-{i}") for i in range(5)]
    await consumer.stop()
    for event in calm:
        await publish(bus, event)
    await consumer.start()
    await eventually(lambda: consumer_settled(bus, consumer), what="the calm batch to be acknowledged")
    assert [event_id for event_id, _ in handled] == [e.id for e in calm]  # in stream order
    assert len({txid for _, txid in handled}) == 1


async def test_events_a_consumer_does_not_accept_are_acknowledged_unread(
    service: Service, bus: Bus, consumers: ConsumerFactory, consumer_db: ServiceDatabase
) -> None:
    """``accepts``: another lane's events are acknowledged without a transaction or an inbox row,
    in a fetched batch and one at a time alike; the accepted ones are applied as ever."""
    tenant = uuid.uuid4()
    handled: list[str] = []

    async def handler(unit: Unit, event: Event) -> None:
        await insert_item(unit, event)
        handled.append(event.data["name"])

    events = [item_event(service, tenant, name) for name in ("mine-0", "theirs-0", "mine-1", "theirs-1")]
    for event in events:
        await publish(bus, event)
    batched = consumers(handler, batch_size=20, batched=True, accepts=lambda e: e.data["name"].startswith("mine"))
    single = consumers(handler, batch_size=1, accepts=lambda e: e.data["name"] == "theirs-1")
    await batched.start()
    await single.start()
    for consumer in (batched, single):
        await eventually(lambda c=consumer: consumer_settled(bus, c), what="every message to be acknowledged")
    assert sorted(handled) == ["mine-0", "mine-1", "theirs-1"]
    assert await items_of(consumer_db, tenant) == ["mine-0", "mine-1", "theirs-1"]
    async with consumer_db.tenant_unit(scope_for_system(tenant)) as unit:
        recorded = await unit.fetch(f"SELECT consumer, event_id FROM {SCHEMA}.inbox")
    assert {(r["consumer"], r["event_id"]) for r in recorded} == {
        (batched.name, events[0].id), (batched.name, events[2].id), (single.name, events[3].id)}


async def _contains(items: list[Any], value: Any) -> bool:
    return value in items


async def test_failing_handler_sends_the_event_to_the_dead_letter_stream_with_the_reason(
    service: Service, bus: Bus, consumers: ConsumerFactory, consumer_db: ServiceDatabase
) -> None:
    tenant = uuid.uuid4()
    calls: list[int] = []

    async def handler(unit: Unit, event: Event) -> None:
        await insert_item(unit, event)  # rolled back with each failure
        calls.append(1)
        raise RuntimeError(f"boom #{len(calls)}")

    consumer = consumers(handler, max_deliveries=3)
    await consumer.start()
    event = item_event(service, tenant, "doomed")
    await publish(bus, event)

    dead = await eventually(lambda: _dead_letters(bus, consumer), what="a dead letter")
    assert len(dead) == 1
    letter = dead[0]
    assert letter.subject == dead_letter_subject(service.stream, consumer.name)
    assert letter.data == encode_event(event)
    assert letter.headers[HDR_ORIGINAL_SUBJECT] == event.subject
    assert letter.headers[HDR_CONSUMER] == consumer.name
    assert letter.headers[HDR_DELIVERIES] == "3"
    assert "RuntimeError: boom #3" in letter.headers[HDR_REASON]
    assert letter.headers[MSG_ID_HEADER] == f"{event.id}:{consumer.name}"

    # Terminated: never delivered again, nothing pending, nothing applied.
    await eventually(lambda: consumer_settled(bus, consumer), what="the consumer to settle")
    await asyncio.sleep(0.3)  # several back-off delays
    assert len(calls) == 3
    assert await consumer_settled(bus, consumer)
    assert len(await _dead_letters(bus, consumer)) == 1
    assert await items_of(consumer_db, tenant) == []


async def _dead_letters(bus: Bus, consumer: EventConsumer) -> list[Any]:
    return await stream_messages(bus, DEAD_LETTER_STREAM, consumer.dead_letter_subject)


async def test_messages_never_acknowledged_are_dead_lettered_from_the_advisory(
    service: Service, bus: Bus, consumers: ConsumerFactory
) -> None:
    calls: list[Event] = []

    async def handler(unit: Unit, event: Event) -> None:
        calls.append(event)

    consumer = consumers(handler, max_deliveries=2, ack_wait=0.5)
    # A process that takes the message and dies without answering, twice: raw pulls, no ack.
    await bus.js.add_consumer(consumer.stream, config=consumer.consumer_config())
    crashed = await bus.js.pull_subscribe_bind(durable=consumer.name, stream=consumer.stream)
    event = item_event(service, uuid.uuid4(), "abandoned")
    await publish(bus, event)
    assert (await crashed.fetch(1, timeout=2))[0].metadata.num_delivered == 1
    assert (await crashed.fetch(1, timeout=2))[0].metadata.num_delivered == 2
    await crashed.unsubscribe()

    await consumer.start()  # JetStream gives up on the message and tells us in an advisory
    dead = await eventually(lambda: _dead_letters(bus, consumer), what="a dead letter from the advisory")
    assert len(dead) == 1
    assert dead[0].headers[HDR_REASON] == MAX_DELIVERIES_REASON
    assert dead[0].headers[HDR_DELIVERIES] == "2"
    assert dead[0].headers[HDR_ORIGINAL_SUBJECT] == event.subject
    assert dead[0].headers[MSG_ID_HEADER] == f"{event.id}:{consumer.name}"
    assert dead[0].data == encode_event(event)
    assert calls == []


async def test_undecodable_and_misaddressed_messages_go_straight_to_dead_letters(
    service: Service, bus: Bus, consumers: ConsumerFactory
) -> None:
    calls: list[Event] = []

    async def handler(unit: Unit, event: Event) -> None:
        calls.append(event)

    consumer = consumers(handler, max_deliveries=5)
    await consumer.start()
    tenant, other = uuid.uuid4(), uuid.uuid4()
    await bus.js.publish(f"crm.{service.name}.{tenant}.item.created", b"{not json",
                         headers={MSG_ID_HEADER: "garbage-1"})
    forged = item_event(service, tenant, "forged")
    # A valid envelope for one tenant on another tenant's subject.
    await bus.js.publish(f"crm.{service.name}.{other}.item.created", encode_event(forged),
                         headers={MSG_ID_HEADER: str(forged.id)})

    dead = await eventually(lambda: _len_at_least(_dead_letters(bus, consumer), 2), what="two dead letters")
    reasons = [d.headers[HDR_REASON] for d in dead]
    assert "undecodable event payload" in reasons[0]
    assert dead[0].headers[MSG_ID_HEADER] == f"garbage-1:{consumer.name}"
    assert "differs from envelope tenant" in reasons[1]
    assert all(d.headers[HDR_DELIVERIES] == "1" for d in dead)  # no retries: they cannot help
    await eventually(lambda: consumer_settled(bus, consumer), what="the consumer to settle")
    assert calls == []


async def _len_at_least(value: Awaitable[list[Any]], n: int) -> list[Any] | None:
    items = await value
    return items if len(items) >= n else None


async def test_graceful_stop_finishes_the_message_in_flight_and_acks_nothing_else(
    service: Service, bus: Bus, consumers: ConsumerFactory, consumer_db: ServiceDatabase
) -> None:
    tenant = uuid.uuid4()
    events = [item_event(service, tenant, f"item-{i}") for i in range(3)]
    for event in events:
        await publish(bus, event)
    handled: list[str] = []
    entered, gate = asyncio.Event(), asyncio.Event()

    async def slow(unit: Unit, event: Event) -> None:
        entered.set()
        await gate.wait()
        await insert_item(unit, event)
        handled.append(event.data["name"])

    name = f"c{uuid.uuid4().hex[:10]}"
    first = consumers(slow, name=name)
    await first.start()
    await asyncio.wait_for(entered.wait(), 5)
    stopping = asyncio.create_task(first.stop())
    await asyncio.sleep(0.2)
    assert not stopping.done()  # waits for the message in flight
    gate.set()
    await asyncio.wait_for(stopping, 5)
    assert handled == ["item-0"]

    # The same durable consumer, restarted, gets exactly what the first did not finish.
    second = consumers(insert_then_record(handled), name=name)
    await second.start()
    await eventually(lambda: _len_at_least(_async(handled), 3), what="the rest to be handled")
    await eventually(lambda: consumer_settled(bus, second), what="the consumer to settle")
    assert handled == ["item-0", "item-1", "item-2"]
    assert await items_of(consumer_db, tenant) == ["item-0", "item-1", "item-2"]


def insert_then_record(handled: list[str]) -> Callable[[Unit, Event], Awaitable[None]]:
    async def handler(unit: Unit, event: Event) -> None:
        await insert_item(unit, event)
        handled.append(event.data["name"])

    return handler


async def _async(value: Any) -> Any:
    return value


# --- end to end, traced --------------------------------------------------------------------------


async def test_consumer_span_continues_the_producer_trace_end_to_end(
    service: Service, bus: Bus, relays: RelayFactory, consumers: ConsumerFactory, consumer_db: ServiceDatabase
) -> None:
    from opentelemetry import trace

    from shared.telemetry import setup_tracing, tracer

    exporter = InMemorySpanExporter()
    setup_tracing("huike-test-events", extra_processor=SimpleSpanProcessor(exporter))
    seen_in_handler: list[int] = []

    async def handler(unit: Unit, event: Event) -> None:
        seen_in_handler.append(trace.get_current_span().get_span_context().trace_id)
        await unit.execute(f"INSERT INTO {SCHEMA}.items (tenant_id, id, name) VALUES ($1, $2, 'copy')",
                           event.tenant_id, uuid.uuid4())

    relay = relays()
    await relay.start()
    consumer = consumers(handler)
    await consumer.start()
    tenant = uuid.uuid4()
    with tracer("test").start_as_current_span("POST /items") as request_span:
        event = await create_item(service, tenant, "traced")
    root = request_span.get_span_context()

    def spans_named(name: str) -> list[Any]:
        return [s for s in exporter.get_finished_spans() if s.name == name]

    async def consumer_span_finished() -> bool:
        return bool(spans_named(f"process {event.subject}"))

    await eventually(consumer_span_finished, what="the consumer's span")
    (producer,) = spans_named(f"publish {event.subject}")
    (consumer_span,) = spans_named(f"process {event.subject}")
    assert producer.kind == SpanKind.PRODUCER
    assert producer.context.trace_id == root.trace_id
    assert producer.parent is not None and producer.parent.span_id == root.span_id
    assert consumer_span.kind == SpanKind.CONSUMER
    assert consumer_span.context.trace_id == root.trace_id
    assert consumer_span.parent is not None and consumer_span.parent.span_id == producer.context.span_id
    assert consumer_span.attributes["messaging.message.id"] == str(event.id)
    assert seen_in_handler == [root.trace_id]
    await eventually(lambda: consumer_settled(bus, consumer), what="the consumer to settle")
    assert await items_of(consumer_db, tenant) == ["copy", "traced"]


async def test_a_dead_letter_is_replayed_by_the_operator_to_its_subject_and_applied_once(
    service: Service, bus: Bus, consumers: ConsumerFactory, consumer_db: ServiceDatabase, client: Any, settings: Any
) -> None:
    tenant = uuid.uuid4()
    broken = {"yes": True}

    async def handler(unit: Unit, event: Event) -> None:
        if broken["yes"]:
            raise ValueError("the handler has a bug for this event")
        await insert_item(unit, event)

    consumer = consumers(handler, max_deliveries=2)
    await consumer.start()
    event = item_event(service, tenant, "replayed")
    await publish(bus, event)
    await eventually(lambda: _dead_letters(bus, consumer), what="the dead letter")
    operator = {"Authorization": f"Bearer {settings.operator_token}"}
    assert (await client.get("/api/v1/operator/dead-letters", headers={"Authorization": "Bearer nope"})).status_code == 401
    listed = (await client.get("/api/v1/operator/dead-letters", params={"limit": 500}, headers=operator)).json()
    mine = [d for d in listed if d["consumer"] == consumer.name]
    assert len(mine) == 1 and mine[0]["subject"] == event.subject and "has a bug" in mine[0]["reason"]
    assert mine[0]["deliveries"] == 2
    assert await items_of(consumer_db, tenant) == []

    broken["yes"] = False  # the bug is fixed; the operator replays
    replayed = await client.post(f"/api/v1/operator/dead-letters/{mine[0]['sequence']}/replay", headers=operator)
    assert replayed.status_code == 200, replayed.text
    await eventually(lambda: _true_if(items_of(consumer_db, tenant), ["replayed"]), what="the replayed event applied")
    assert await _dead_letters(bus, consumer) == []  # deleted from the dead letters
    again = await client.post(f"/api/v1/operator/dead-letters/{mine[0]['sequence']}/replay", headers=operator)
    assert again.status_code == 404
    await eventually(lambda: consumer_settled(bus, consumer), what="the consumer to settle")
    assert await items_of(consumer_db, tenant) == ["replayed"]
