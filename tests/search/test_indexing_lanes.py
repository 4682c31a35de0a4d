"""Imported records are indexed on their own lane (a consumer of their own), so people's writes
stay searchable at once while an import's events queue up."""

from __future__ import annotations

import asyncio
import os
import uuid

from services.search.building import BACKGROUND_CHUNK, SMALL, DocumentBuilder, Spec, builder_of
from services.search.engines import engine_of
from services.search.indexer import consumer_name
from shared.priority import BACKGROUND_NICENESS
from shared.tenancy import scope_for_system
from tests.records.test_imports import bulk, csv_bytes, finished, upload  # noqa: F401 - fixture
from tests.search.conftest import eventually, ids


async def test_imported_records_go_on_the_bulk_lane_and_typed_ones_on_the_live_lane(
    client, signup, customer, runtime, bulk, records_events  # noqa: F811 - fixture
) -> None:
    tenant = await signup()
    job = await finished(client, tenant, (await upload(
        client, tenant, csv_bytes([["name"], ["星河智能装备有限公司"], ["星河 Northwind Traders"]]))).json()["id"])
    assert job["rows_created"] == 2
    typed = await customer(tenant, name="星河物流有限公司")
    everyone = {r["id"] for r in (await client.get("/api/v1/customers", headers=tenant.headers)).json()["items"]}
    assert len(everyone) == 3

    async def all_found() -> bool:
        answer = await client.get("/api/v1/search", params={"q": "星河"}, headers=tenant.headers)
        return set(ids(answer)) == everyone

    # The bulk lane's builder process starts on demand (it loads the dictionaries first).
    await eventually(all_found, timeout=20)

    created = [e for e in records_events.of(tenant.id) if e.type == "customer.created"]
    imported = {str(e.id) for e in created if e.data.get("import_id") == job["id"]}
    typed_events = {str(e.id) for e in created if str(e.entity_id) == typed["id"]}
    assert len(imported) == 2 and len(typed_events) == 1
    async with runtime.db("search").tenant_unit(scope_for_system(uuid.UUID(tenant.id))) as unit:
        rows = await unit.fetch("SELECT consumer, event_id FROM search.inbox WHERE tenant_id = $1", unit.tenant_id)
    by_consumer: dict[str, set[str]] = {}
    for row in rows:
        by_consumer.setdefault(row["consumer"], set()).add(str(row["event_id"]))
    engine = engine_of(runtime)
    live, bulk_lane = by_consumer.get(consumer_name(engine, "live"), set()), by_consumer.get(
        consumer_name(engine, "bulk"), set())
    assert imported <= bulk_lane and not imported & live
    assert typed_events <= live and not typed_events & bulk_lane


async def test_a_background_build_gives_the_same_documents_in_the_same_order_at_a_lower_priority(runtime) -> None:
    # The bulk lane and reindexes build in their own, lower-priority workers, in small chunks, so
    # a record a person just wrote is built at once; the answer must not change.
    builder = builder_of(runtime)
    specs = [Spec("customer", {"id": str(uuid.uuid4()), "name": f"深圳市腾讯计算机系统有限公司 分部{i}", "tags": ["vip"]}, i + 1)
             for i in range(3 * BACKGROUND_CHUNK + 5)]
    live = await builder.build(specs)
    background = await builder.build(specs, background=True)
    assert [d.id for d in background] == [uuid.UUID(s.record["id"]) for s in specs]
    assert background == live
    loop = asyncio.get_running_loop()
    pools = builder._pools  # noqa: SLF001 - which process ran at which priority
    assert await loop.run_in_executor(pools[False], os.nice, 0) == os.nice(0)
    assert await loop.run_in_executor(pools[True], os.nice, 0) == min(19, os.nice(0) + BACKGROUND_NICENESS)


async def test_the_builder_starts_one_worker_and_adds_the_others_only_when_batches_overlap() -> None:
    # Each worker holds jieba's and pypinyin's dictionaries (~145 MiB): a quiet stack keeps one.
    builder = DocumentBuilder(workers=2)
    try:
        await builder.start()
        pool = builder._pools[False]  # noqa: SLF001 - the worker processes are what costs memory
        assert len(pool._processes) == 1  # noqa: SLF001
        specs = [Spec("customer", {"id": str(uuid.uuid4()), "name": f"深圳信诚致远科技有限公司 {i}"}, 1)
                 for i in range(4 * SMALL)]
        built = await asyncio.gather(builder.build(specs), builder.build(specs))
        assert [d.id for d in built[0]] == [uuid.UUID(s.record["id"]) for s in specs]
        assert len(pool._processes) == 2  # noqa: SLF001 - overlapping batches got the second worker
    finally:
        await builder.close()
