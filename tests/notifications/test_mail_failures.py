"""Mail that cannot be delivered: a temporary failure is retried later, a permanent one ends the
delivery with the reason, and an address that keeps failing is suppressed (real SMTP: the local
aiosmtpd sink refuses .invalid domains as the Internet does)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from services.notifications.db import store
from services.notifications.workers import state_of
from shared.tenancy import scope_for_system
from tests.notifications.test_inbox import eventually

pytestmark = pytest.mark.asyncio

CONTENT = {"subject": "Hello", "text": "Hello", "html": "<p>Hello</p>"}


async def deliveries(runtime: Any, tenant_id: str, address: str) -> list[Any]:
    async with runtime.db("notifications").tenant_unit(scope_for_system(uuid.UUID(tenant_id))) as unit:
        return await unit.fetch(
            """SELECT status, attempts, last_error, next_attempt_at FROM notifications.deliveries
               WHERE tenant_id = $1 AND address = $2 ORDER BY created_at""", unit.tenant_id, address)


async def queue_mail(runtime: Any, tenant_id: str, address: str) -> None:
    async with runtime.db("notifications").tenant_unit(scope_for_system(uuid.UUID(tenant_id))) as unit:
        await store.add_delivery(unit, notification_id=None, user_id=None, address=address, type_key="task.overdue",
                                 locale="en", content=CONTENT, status="pending", due_at=None)
    state_of(runtime).sender.wake.set()


async def test_temporary_failure_is_retried_later(signup, runtime) -> None:
    tenant = await signup()
    address = f"x-{uuid.uuid4().hex[:6]}@busy.invalid"
    await queue_mail(runtime, tenant.id, address)

    async def tried() -> list[Any] | None:
        rows = await deliveries(runtime, tenant.id, address)
        return rows if rows and rows[0]["attempts"] == 1 else None
    [row] = await eventually(tried)
    assert row["status"] == "failed" and "451" in row["last_error"]
    assert (row["next_attempt_at"] - datetime.now(UTC)).total_seconds() > 20  # back-off: not at once


async def test_permanent_failures_end_dead_and_suppress_the_address(signup, runtime) -> None:
    tenant, other = await signup(), await signup()
    address = f"gone-{uuid.uuid4().hex[:6]}@nowhere.invalid"
    for _ in range(4):  # tried in order: the fourth comes after three dead ones
        await queue_mail(runtime, tenant.id, address)

    async def settled() -> list[Any] | None:
        rows = await deliveries(runtime, tenant.id, address)
        return rows if len(rows) == 4 and all(r["status"] not in ("pending", "failed") for r in rows) else None
    rows = await eventually(settled)
    assert [r["status"] for r in rows] == ["dead", "dead", "dead", "suppressed"]
    assert all("550" in r["last_error"] for r in rows[:3])
    async with runtime.db("notifications").tenant_unit(scope_for_system(uuid.UUID(tenant.id))) as unit:
        assert await store.is_suppressed(unit, address)
        # From now on no delivery to the address is even made.
        assert await store.add_delivery(unit, notification_id=None, user_id=None, address=address,
                                        type_key="task.overdue", locale="en", content=CONTENT, status="pending",
                                        due_at=None) is None
    # Suppression is the tenant's own: another tenant's mail to the address is still tried.
    async with runtime.db("notifications").tenant_unit(scope_for_system(uuid.UUID(other.id))) as unit:
        assert not await store.is_suppressed(unit, address)
