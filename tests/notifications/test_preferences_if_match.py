"""Preferences and tenant defaults carry an ETag; a save with a stale If-Match is refused (412)
and changes nothing, like webhooks and robots."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.asyncio

BODY = {"types": {"task.overdue": {"channels": ["in_app"]}}, "quiet_hours": None, "time_zone": None}


@pytest.mark.parametrize("path", ["/api/v1/notification-preferences", "/api/v1/notification-defaults"])
async def test_a_stale_if_match_is_refused_and_saves_nothing(client, signup, path) -> None:
    tenant = await signup()
    first = await client.get(path, headers=tenant.headers)
    assert first.status_code == 200 and first.headers["etag"] == '"0"'  # nothing saved yet

    # Two tabs read version 0; the first saves, the second's save is stale.
    saved = await client.put(path, json=BODY, headers={**tenant.headers, "If-Match": first.headers["etag"]})
    assert saved.status_code == 200, saved.text
    assert saved.headers["etag"] == '"1"' and saved.json()["types"]["task.overdue"]["channels"] == ["in_app"]
    stale = await client.put(path, json={**BODY, "types": {}}, headers={**tenant.headers, "If-Match": '"0"'})
    assert stale.status_code == 412, stale.text
    assert stale.json()["current_version"] == 1
    again = await client.get(path, headers=tenant.headers)
    assert again.headers["etag"] == '"1"' and "task.overdue" in again.json()["types"]

    # The current ETag (weak form too) saves; no If-Match still saves (last writer wins).
    current = await client.put(path, json={**BODY, "types": {}}, headers={**tenant.headers, "If-Match": 'W/"1"'})
    assert current.status_code == 200 and current.headers["etag"] == '"2"' and current.json()["types"] == {}
    blind = await client.put(path, json=BODY, headers=tenant.headers)
    assert blind.status_code == 200 and blind.headers["etag"] == '"3"'

    bad = await client.put(path, json=BODY, headers={**tenant.headers, "If-Match": "yesterday"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "If-Match"


@pytest.mark.parametrize("path", ["/api/v1/notification-preferences", "/api/v1/notification-defaults"])
async def test_of_two_first_saves_at_once_only_one_wins(client, signup, runtime, path) -> None:
    # Both tabs read "nothing saved" (version 0). The other tab's first save is written but not
    # yet committed when this one's arrives: it must not silently overwrite it once committed.
    import asyncio
    import uuid

    from shared.tenancy import scope_for_system

    tenant = await signup()
    tenant_id = uuid.UUID(tenant.id)
    async with runtime.db("notifications").tenant_unit(scope_for_system(tenant_id)) as other_tab:
        if path.endswith("preferences"):
            await other_tab.execute(
                "INSERT INTO notifications.user_preferences (tenant_id, user_id, types) VALUES ($1, $2, '{}')",
                tenant_id, uuid.UUID(tenant.admin_id))
        else:
            await other_tab.execute(
                "INSERT INTO notifications.tenant_defaults (tenant_id, types) VALUES ($1, '{}')", tenant_id)
        mine = asyncio.create_task(client.put(path, json=BODY, headers={**tenant.headers, "If-Match": '"0"'}))
        await asyncio.sleep(0.5)  # it reads no row and waits on the other tab's insert
        assert not mine.done()
    answer = await mine
    assert answer.status_code == 412, answer.text
    assert answer.json()["current_version"] == 1
    stored = await client.get(path, headers=tenant.headers)
    assert stored.headers["etag"] == '"1"' and stored.json()["types"] == {}
