"""A database outage in the middle of a webhook delivery is not a delivery failure: servers of this
module's own (stopping them leaves the session's alone), a real receiver, the real worker."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from standardwebhooks import Webhook

from services.notifications.app import service as notifications
from services.notifications.db import webhooks as store
from services.notifications.domain.signing import new_secret
from services.registry import migrate_all
from shared.embedded import EmbeddedServers
from shared.runtime import Runtime
from shared.settings import load_settings
from shared.tenancy import scope_for_system
from tests.identity.conftest import eventually
from tests.notifications.receivers import Receiver, receivers  # noqa: F401 - fixtures

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServers]:
    own = EmbeddedServers(tmp_path_factory.mktemp("hooks-outage-servers"))
    own.start()
    try:
        yield own
    finally:
        own.stop()


@pytest.fixture
async def hooks_runtime(servers: EmbeddedServers, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Runtime]:
    settings = load_settings(
        data_dir=tmp_path_factory.mktemp("hooks-outage-data"), database_url=servers.postgres.app_url,
        database_owner_url=servers.postgres.owner_url, nats_url=servers.nats.url,
        jwt_secret=secrets.token_urlsafe(32), operator_token=secrets.token_urlsafe(16), log_format="text",
        webhook_allow_private=True)
    await migrate_all(settings, (notifications,))
    runtime = Runtime(settings, (notifications,))
    await runtime.start()
    try:
        yield runtime
    finally:
        if servers.postgres.proc is None or servers.postgres.proc.poll() is not None:
            servers.postgres.start()
        await runtime.stop()


async def test_a_delivery_whose_result_cannot_be_recorded_is_sent_again_not_failed(
        servers: EmbeddedServers, hooks_runtime: Runtime, receivers: Any) -> None:
    receiver: Receiver = await receivers()
    receiver.hold = asyncio.Event()
    tenant_id = uuid.uuid4()
    db = hooks_runtime.db("notifications")
    secret = new_secret()
    async with db.tenant_unit(scope_for_system(tenant_id)) as unit:
        endpoint = await store.insert_endpoint(unit, url=receiver.url, description=None, events=["*"],
                                               hidden_fields={}, enabled=True, secret=secret, created_by=uuid.uuid4())
        event_id = uuid.uuid4()
        delivery_id = await store.add_delivery(
            unit, target_kind="webhook", target_id=endpoint["id"], event_id=event_id, event_type="customer.created",
            occurred_at=datetime.now(UTC), payload={"id": str(event_id), "type": "customer.created"})
    await eventually(_count(receiver, 1), timeout=10)

    # The receiver has the message; PostgreSQL goes away before the worker can record the answer.
    servers.postgres.stop()
    receiver.hold.set()
    await asyncio.sleep(1)  # the answer comes back to a worker without a database
    servers.postgres.start()

    async def lease_over() -> bool:  # two minutes pass: the lease of the lost send runs out
        try:
            async with db.system_unit() as unit:
                await unit.execute("UPDATE notifications.hook_queue SET leased_until = NULL, due_at = now() "
                                   "WHERE id = $1", delivery_id)
            return True
        except Exception:  # noqa: BLE001 - the pool reconnects to the restarted server
            return False
    await eventually(lease_over, timeout=30)
    await eventually(_count(receiver, 2), timeout=10)

    async def recorded() -> bool:
        async with db.tenant_unit(scope_for_system(tenant_id)) as unit:
            row = await store.get_delivery(unit, delivery_id)
        return row is not None and row["status"] == "succeeded"
    await eventually(recorded, timeout=10)
    async with db.tenant_unit(scope_for_system(tenant_id)) as unit:
        row = await store.get_delivery(unit, delivery_id)
        attempts = await store.attempts_of(unit, [delivery_id])
    assert row is not None and row["attempts"] == 0 and row["last_error"] is None  # no failure counted
    assert [a["succeeded"] for a in attempts] == [True]
    # At least once, with one webhook-id: the receiver drops the repeat.
    assert {r.headers["webhook-id"] for r in receiver.requests} == {str(event_id)}
    for request in receiver.requests:
        Webhook(secret).verify(request.body, request.headers)


def _count(receiver: Receiver, count: int) -> Any:
    async def check() -> bool:
        return len(receiver.requests) >= count
    return check
