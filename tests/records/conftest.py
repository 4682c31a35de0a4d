"""Fixtures for records tests (shared by every records entity's tests).

* ``invite`` (fixture) and ``eventually`` (function, import it from here): from
  tests/identity/conftest.py (non-admin users with roles; polling).
* ``records_events``: every records event published while the test runs (``.of(tenant)``,
  ``.wait_for(tenant, "customer.created")``).
* ``customer``: ``await customer(tenant_or_member, name=..., **fields)`` creates a customer through
  the API and answers its JSON.
* ``in_directory``: ``await in_directory(tenant_id, user_id)`` waits until the records directory
  mirror knows a user (owner checks and department scopes read the mirror).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from shared.tenancy import scope_for_system
from tests.identity.conftest import EventLog, Member, bearer, eventually, invite  # noqa: F401 - fixtures

__all__ = ["EventLog", "Member", "bearer", "eventually"]


@pytest.fixture
async def records_events(runtime: Any) -> AsyncIterator[EventLog]:
    """Every records event published while the test runs (filter with ``.of(tenant_id)``)."""
    log = EventLog()
    subscription = await runtime.bus.nc.subscribe("crm.records.*.>", cb=log.on_message)
    yield log
    await subscription.unsubscribe()


MakeCustomer = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def customer(client: httpx.AsyncClient) -> MakeCustomer:
    """Create a customer as ``who`` (a Tenant or Member): ``await customer(tenant, tags=["vip"])``."""

    async def make(who: Any, name: str | None = None, **fields: Any) -> dict[str, Any]:
        body = {"name": name or f"客户 {uuid.uuid4().hex[:8]}", **fields}
        response = await client.post("/api/v1/customers", json=body, headers=who.headers)
        assert response.status_code == 201, response.text
        return response.json()

    return make


@pytest.fixture
def in_directory(runtime: Any) -> Callable[[str, str], Awaitable[None]]:
    """Wait until the records directory mirror knows the user."""

    async def wait(tenant_id: str, user_id: str) -> None:
        db = runtime.db("records")

        async def known() -> bool:
            async with db.tenant_unit(scope_for_system(uuid.UUID(tenant_id))) as unit:
                return bool(await unit.fetchval(
                    "SELECT 1 FROM records.directory_users WHERE tenant_id = $1 AND id = $2",
                    uuid.UUID(tenant_id), uuid.UUID(user_id)))

        await eventually(known, timeout=5)

    return wait
