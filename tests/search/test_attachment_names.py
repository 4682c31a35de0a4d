"""A record is found by the names of its attachments (services/search/attachments.py): kept current
from attachment.added|removed, kept through the record's own updates, rebuilt by a reindex, and
governed by the caller's access to the record like any other field."""

from __future__ import annotations

import uuid
from typing import Any

from shared.tenancy import scope_for_system
from tests.identity.conftest import eventually
from tests.search.conftest import ids
from tests.search.test_reindex import replay  # noqa: F401 - fixture

PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
CONTRACT = "合同-华为-2026.pdf"


async def _attach(client: Any, who: Any, collection: str, record_id: str, name: str) -> dict[str, Any]:
    made = await client.post(f"/api/v1/{collection}/{record_id}/attachments", headers=who.headers,
                             files={"file": (name, PDF, "application/pdf")})
    assert made.status_code == 201, made.text
    return made.json()


async def test_a_customer_is_found_by_its_files_name_until_the_file_is_deleted(
        client, signup, customer, invite, found, gone, search) -> None:
    tenant = await signup()
    acme = await customer(tenant, name="Acme Trading")
    other = await customer(tenant, name="Beta Trading")
    attachment = await _attach(client, tenant, "customers", acme["id"], CONTRACT)
    hit = await found(tenant, "合同", acme["id"])
    assert hit["type"] == "customer" and "<em>合同</em>" in hit["highlight"]["attachments"], hit
    for q in ("hetong", "华为 2026", "合同 acme"):
        await found(tenant, q, acme["id"])
    assert other["id"] not in ids(await search(tenant, "合同"))
    # The record's own update rebuilds its document from the event: the file's name stays.
    changed = await client.patch(f"/api/v1/customers/{acme['id']}", json={"industry": "贸易"},
                                 headers=tenant.headers)
    assert changed.status_code == 200, changed.text
    await found(tenant, "贸易", acme["id"])
    await found(tenant, "合同", acme["id"])
    # A salesperson who sees only their own customers does not find it by its file either.
    sales = await invite(tenant, roles=["sales"])
    assert acme["id"] not in ids(await search(sales, "合同"))
    # Another tenant never finds it.
    stranger = await signup()
    theirs = await customer(stranger, name="Gamma Trading")
    await _attach(client, stranger, "customers", theirs["id"], "合同-阿里.pdf")
    await found(stranger, "合同", theirs["id"])
    assert acme["id"] not in ids(await search(stranger, "合同"))
    assert acme["id"] not in ids(await search(stranger, "hetong"))
    assert theirs["id"] not in ids(await search(tenant, "合同"))
    deleted = await client.delete(f"/api/v1/attachments/{attachment['id']}", headers=tenant.headers)
    assert deleted.status_code == 204, deleted.text
    await gone(tenant, "合同", acme["id"])
    await gone(tenant, "hetong", acme["id"])
    await found(tenant, "acme", acme["id"])  # the record itself is still there


async def test_an_interactions_recording_finds_the_interaction(client, signup, customer, found) -> None:
    tenant = await signup()
    acme = await customer(tenant, name="Acme Trading")
    note = await client.post("/api/v1/interactions", headers=tenant.headers,
                             json={"customer_id": acme["id"], "channel": "phone", "summary": "电话沟通"})
    assert note.status_code == 201, note.text
    await _attach(client, tenant, "interactions", note.json()["id"], "报价单-第三版.pdf")
    hit = await found(tenant, "报价单", note.json()["id"])
    assert hit["type"] == "interaction" and hit["customer_id"] == acme["id"]


async def test_a_reindex_rebuilds_the_names_from_records(client, signup, customer, found, gone, runtime,
                                                         replay) -> None:  # noqa: F811 - fixture
    tenant = await signup()
    acme = await customer(tenant, name="Acme Trading")
    await _attach(client, tenant, "customers", acme["id"], CONTRACT)
    await found(tenant, "合同", acme["id"])
    # Search loses everything it knew of the files (a rebuilt search schema).
    tenant_id = uuid.UUID(tenant.id)
    async with runtime.db("search").tenant_unit(scope_for_system(tenant_id)) as unit:
        await unit.execute("DELETE FROM search.attachments WHERE tenant_id = $1", tenant_id)
        await unit.execute("DELETE FROM search.documents WHERE tenant_id = $1", tenant_id)
    await gone(tenant, "合同", acme["id"])
    started = await client.post("/api/v1/search/reindex", headers=tenant.headers)
    assert started.status_code == 202, started.text

    async def finished() -> bool:  # a reindex replays every type: on a loaded machine it takes a while
        run = (await client.get(f"/api/v1/search/reindex/{started.json()['id']}", headers=tenant.headers)).json()
        assert run["status"] != "failed", run
        return run["status"] == "succeeded"

    await eventually(finished, timeout=60)
    await found(tenant, "合同", acme["id"])
    # The names are known again: the record's next update keeps them.
    changed = await client.patch(f"/api/v1/customers/{acme['id']}", json={"industry": "贸易"},
                                 headers=tenant.headers)
    assert changed.status_code == 200, changed.text
    await found(tenant, "贸易", acme["id"])
    await found(tenant, "hetong", acme["id"])
