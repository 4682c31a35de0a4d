"""Helpers for identity tests: other client addresses, invited users, polling, event capture."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec
import pytest

from shared.events.envelope import Event, decode_event

PASSWORD = "Plum-Orbit-Lantern-42"


@asynccontextmanager
async def client_at(app: Any, address: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose requests come from ``address`` (lockout per address is keyed on it)."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://huike.test") as c:
        yield c


def random_address() -> str:
    """A fresh documentation-range IPv6 address, so address lockout never spills between tests."""
    return f"2001:db8::{uuid.uuid4().hex[:4]}:{uuid.uuid4().hex[:4]}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 2.0, interval: float = 0.05) -> float:
    """Poll until ``check`` is true; return the seconds it took (fail after ``timeout``)."""
    start = time.monotonic()
    while True:
        if await check():
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


@dataclass
class Member:
    id: str
    email: str
    password: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.access_token)


Invite = Callable[..., Awaitable[Member]]


@pytest.fixture
def invite(client: httpx.AsyncClient) -> Invite:
    """Invite a user into a tenant (as its admin) and accept: ``await invite(tenant, roles=["sales"])``."""

    async def make(
        tenant: Any, *, roles: list[str] | None = None, department_id: str | None = None, name: str = "Bo Member"
    ) -> Member:
        email = f"member-{uuid.uuid4().hex[:10]}@example.com"
        body: dict[str, Any] = {"email": email, "name": name, "roles": roles or ["sales"]}
        if department_id:
            body["department_id"] = department_id
        invited = await client.post("/api/v1/invitations", json=body, headers=tenant.headers)
        assert invited.status_code == 201, invited.text
        accepted = await client.post(
            "/api/v1/invitations/accept", json={"token": invited.json()["token"], "password": PASSWORD}
        )
        assert accepted.status_code == 201, accepted.text
        tokens = accepted.json()
        me = await client.get("/api/v1/me", headers=bearer(tokens["access_token"]))
        return Member(me.json()["user"]["id"], email, PASSWORD, tokens["access_token"], tokens["refresh_token"])

    return make


class EventLog:
    """Identity events as they arrive on NATS."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    async def on_message(self, msg: Any) -> None:
        try:
            self.events.append(decode_event(msg.data))
        except msgspec.DecodeError:
            pass

    def of(self, tenant_id: str) -> list[Event]:
        return [e for e in self.events if str(e.tenant_id) == str(tenant_id)]

    def types(self, tenant_id: str) -> list[str]:
        return [e.type for e in self.of(tenant_id)]

    async def wait_for(self, tenant_id: str, event_type: str, timeout: float = 3.0) -> Event:
        async def seen() -> bool:
            return event_type in self.types(tenant_id)

        await eventually(seen, timeout)
        return next(e for e in self.of(tenant_id) if e.type == event_type)


@pytest.fixture
async def events(runtime: Any) -> AsyncIterator[EventLog]:
    """Every identity event published while the test runs (filter with ``.of(tenant_id)``)."""
    log = EventLog()
    subscription = await runtime.bus.nc.subscribe("crm.identity.*.>", cb=log.on_message)
    yield log
    await subscription.unsubscribe()
