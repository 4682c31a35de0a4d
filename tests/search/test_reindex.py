"""Full reindex of a tenant (admin endpoint, operator endpoint) and reconciliation of drift."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from services.records.replay import start_replay
from services.search.documents import build
from services.search.engines import engine_of
from services.search.reindex import drift
from shared.settings import Settings
from shared.tenancy import scope_for_system
from tests.identity.conftest import eventually
from tests.search.conftest import ids


@pytest.fixture
async def replay(runtime: Any) -> AsyncIterator[None]:
    """The records replay responder, for tests that run no app (beside an app's own, one of the queue group answers)."""
    responder = await start_replay(runtime)
    yield
    await responder.stop()


async def _finished(client, headers: dict[str, str], run_id: str) -> dict[str, Any]:
    result: dict[str, Any] = {}

    async def done() -> bool:
        nonlocal result
        response = await client.get(f"/api/v1/search/reindex/{run_id}", headers=headers)
        assert response.status_code == 200, response.text
        result = response.json()
        return result["status"] != "running"

    await eventually(done, timeout=10)
    return result


async def test_reindex_repairs_lost_and_stale_documents(client, signup, customer, found, search, runtime,
                                                         replay, invite) -> None:
    tenant = await signup()
    kept = await customer(tenant, name="Reindex Keeper 保留")
    lost = await customer(tenant, name="Reindex Lost 丢失")
    await found(tenant, "reindex", lost["id"])
    tenant_id = uuid.UUID(tenant.id)
    # Drift: one document lost, one document of a record that does not exist.
    ghost_id = uuid.uuid4()
    async with runtime.db("search").tenant_unit(scope_for_system(tenant_id)) as unit:
        await unit.execute("DELETE FROM search.documents WHERE tenant_id = $1 AND id = $2", tenant_id,
                           uuid.UUID(lost["id"]))
        await engine_of(runtime).apply(unit, [build("customer", {"id": ghost_id, "name": "Reindex Ghost"}, version=1)])
    assert set(ids(await search(tenant, "reindex"))) == {kept["id"], str(ghost_id)}
    assert set(await drift(runtime, tenant_id)) == {"customer"}

    member = await invite(tenant, roles=["sales"])
    assert (await client.post("/api/v1/search/reindex", headers=member.headers)).status_code == 403
    started = await client.post("/api/v1/search/reindex", headers=tenant.headers)
    assert started.status_code == 202, started.text
    run = await _finished(client, tenant.headers, started.json()["id"])
    assert run["status"] == "succeeded" and run["records"] == 2 and run["swept"] == 1, run
    assert set(ids(await search(tenant, "reindex"))) == {kept["id"], lost["id"]}
    assert await drift(runtime, tenant_id) == {}
    # Another tenant cannot read the run.
    other = await signup()
    assert (await client.get(f"/api/v1/search/reindex/{run['id']}", headers=other.headers)).status_code == 404


async def test_operator_reindex_needs_the_operator_token(client, signup, customer, settings, replay) -> None:
    tenant = await signup()
    await customer(tenant, name="Operator Reindexed")
    path = f"/api/v1/operator/search/reindex/{tenant.id}"
    assert (await client.post(path, headers=tenant.headers)).status_code == 401
    started = await client.post(path, headers={"Authorization": f"Bearer {settings.operator_token}"})
    assert started.status_code == 202, started.text
    run = await _finished(client, tenant.headers, started.json()["id"])
    assert run["status"] == "succeeded" and run["reason"] == "operator"


async def test_reconciliation_finds_drift_and_repairs_it(signup, customer, found, runtime, replay) -> None:
    from services.search.reindex import reconcile

    tenant = await signup()
    made = await customer(tenant, name="Reconciled Record")
    await found(tenant, "reconciled", made["id"])
    tenant_id = uuid.UUID(tenant.id)
    async with runtime.db("search").tenant_unit(scope_for_system(tenant_id)) as unit:
        await unit.execute("UPDATE search.documents SET version = 0 WHERE tenant_id = $1", tenant_id)
    assert set(await drift(runtime, tenant_id)) == {"customer"}
    assert await reconcile(runtime) >= 1

    async def repaired() -> bool:
        return await drift(runtime, tenant_id) == {}

    await eventually(repaired, timeout=10)


async def test_reconciliation_runs_soon_after_start_up_not_an_hour_later(signup, customer, found, runtime) -> None:
    from services.search.reindex import ReconcileJob

    tenant = await signup()
    made = await customer(tenant, name="Drifted While Down")
    await found(tenant, "drifted", made["id"])
    tenant_id = uuid.UUID(tenant.id)
    async with runtime.db("search").tenant_unit(scope_for_system(tenant_id)) as unit:  # as a lost event leaves it
        await unit.execute("UPDATE search.documents SET version = 0 WHERE tenant_id = $1", tenant_id)
    # Deployments reconcile within a minute of start-up (the test session waits an hour: see conftest).
    assert Settings.model_fields["search_reconcile_first_after_seconds"].default <= 60
    job = await ReconcileJob(runtime, first_after=0.5).start()
    try:
        async def repaired() -> bool:
            return await drift(runtime, tenant_id) == {}

        await eventually(repaired, timeout=20)
    finally:
        await job.stop()


async def test_a_records_request_nobody_answered_in_time_is_asked_again(runtime) -> None:
    from services.search.reindex import RecordsUnavailable, _request

    subject = f"huike.test.rpc.{uuid.uuid4().hex}"
    asked = 0

    async def answer_the_third(msg: Any) -> None:
        nonlocal asked
        asked += 1
        if asked >= 3:  # the first two are dropped, as a records service too busy to answer in time
            await msg.respond(b'{"records": [], "next": null}')

    subscription = await runtime.bus.nc.subscribe(subject, cb=answer_the_third)
    try:
        answer = await _request(runtime, subject, {"tenant_id": str(uuid.uuid4())}, timeout=0.3, backoff=0.05)
        assert answer == {"records": [], "next": None} and asked == 3
        # Never answered: it gives up after its attempts and says so.
        asked = -100
        with pytest.raises(RecordsUnavailable, match="in 3 attempts"):
            await _request(runtime, subject, {}, timeout=0.2, attempts=3, backoff=0.05)
        assert asked == -97
    finally:
        await subscription.unsubscribe()
    # Nobody listening at all (records restarting) is retried the same way.
    with pytest.raises(RecordsUnavailable, match="NoRespondersError"):
        await _request(runtime, f"{subject}.nobody", {}, timeout=0.2, attempts=2, backoff=0.05)


async def test_reconciliation_ends_its_pass_when_records_does_not_answer(signup, customer, found, runtime, tmp_path,
                                                                         caplog) -> None:
    from services.search import reindex
    from shared.embedded import EmbeddedNats
    from shared.events import Bus
    from shared.runtime import Runtime

    for name in ("Unanswered One", "Unanswered Two"):  # at least two tenants the index knows
        tenant = await signup()
        await found(tenant, "unanswered", (await customer(tenant, name=name))["id"])
    # Search on a NATS where no records service runs at all (as while records is down).
    nats = EmbeddedNats(tmp_path)
    nats.start()
    try:
        bus = await Bus.connect(nats.url, name="huike-test-search-alone")
        try:
            alone = Runtime(runtime.settings, (), database=runtime.database, bus=bus)
            started = time.monotonic()
            assert await reindex.reconcile(alone, attempts=2, backoff=0.5) == 0
            elapsed = time.monotonic() - started
        finally:
            await bus.close()
    finally:
        nats.stop()
    messages = [r.getMessage() for r in caplog.records]
    asked_again = [m for m in messages if "asking again" in m]
    assert len(asked_again) == 1  # the first tenant's second attempt, not every tenant's
    assert sum("reconciliation stopped at tenant" in m for m in messages) == 1
    assert elapsed < 5


async def test_documents_of_an_older_text_analysis_are_rebuilt(signup, customer, found, gone, runtime, replay) -> None:
    """A tenant indexed before issue 19 (its documents lack the character-pair sounds) is
    reindexed by the reconciliation, after which a homophone typo finds its record."""
    from services.search.reindex import reconcile
    from services.search.text import ANALYSIS_VERSION

    tenant = await signup()
    made = await customer(tenant, name="中国光大银行")
    await found(tenant, "光大银行", made["id"])
    tenant_id = uuid.UUID(tenant.id)
    db = runtime.db("search")
    async with db.tenant_unit(scope_for_system(tenant_id)) as unit:
        # As an older analysis left it: no sounds of character pairs; the tenant at version 0.
        await unit.execute(
            """UPDATE search.documents SET lexemes = array_to_tsvector(ARRAY(
                 SELECT l FROM unnest(tsvector_to_array(lexemes)) l WHERE l NOT LIKE '%guangda%'))
               WHERE tenant_id = $1 AND NOT deleted""", tenant_id)
        await unit.execute("UPDATE search.tenants SET analysis = 0 WHERE id = $1", tenant_id)
    await gone(tenant, "光达银行", made["id"])  # 达 for 大: found by sound only
    assert await drift(runtime, tenant_id) == {}  # no drift: only the analysis version asks for it
    assert await reconcile(runtime) >= 1
    await found(tenant, "光达银行", made["id"], timeout=10)

    async def recorded() -> bool:
        async with db.system_unit() as unit:
            return await unit.fetchval("SELECT analysis FROM search.tenants WHERE id = $1", tenant_id) == ANALYSIS_VERSION

    await eventually(recorded, timeout=10)


async def test_a_difference_while_events_wait_to_be_indexed_is_lag_and_starts_no_reindex(
        client, signup, customer, found, runtime, replay) -> None:
    # An import queues thousands of events; reconciliation then saw records ahead of the index
    # and reindexed the whole tenant, twice the work, and deadlocked with the indexer.
    from services.search.indexer import Indexer
    from services.search.reindex import IndexingBehind, lasting_drift, reconcile

    tenant = await signup()
    made = await customer(tenant, name="Lagging Before")
    await found(tenant, "lagging", made["id"])
    tenant_id = uuid.UUID(tenant.id)
    indexer = next(item for item in runtime._background if isinstance(item, Indexer))  # noqa: SLF001
    await indexer.stop()
    try:
        queued = await customer(tenant, name="Lagging Queued")  # its event waits: nobody indexes it
        assert set(await drift(runtime, tenant_id)) == {"customer"}
        with pytest.raises(IndexingBehind):
            await lasting_drift(runtime, tenant_id, catch_up=1)
        with pytest.raises(IndexingBehind):
            await reconcile(runtime, catch_up=1)
        async with runtime.db("search").tenant_unit(scope_for_system(tenant_id)) as unit:
            assert await unit.fetchval("SELECT count(*) FROM search.reindex_runs WHERE tenant_id = $1", tenant_id) == 0
    finally:
        for consumer in indexer.consumers:
            await consumer.start()
    # Once indexed, the difference is gone by itself: there was nothing to repair.
    await found(tenant, "lagging", queued["id"])
    assert await lasting_drift(runtime, tenant_id, catch_up=10) == {}
