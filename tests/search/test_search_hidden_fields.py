"""Search applies field rules like a read: a hidden field is neither returned, highlighted,
matched, faceted, filtered on, nor used to order hits (issue 13, "Security")."""

from __future__ import annotations

from tests.search.conftest import ids

PHONE = "13812349876"


async def test_hidden_fields_are_absent_from_hits_facets_and_sorts(client, signup, invite, customer, found,
                                                                   search) -> None:
    tenant = await signup()
    role = await client.post("/api/v1/roles", headers=tenant.headers, json={
        "name": "Searcher", "key": "searcher",
        "permissions": {"customer": {"actions": ["read"], "scope": "all"}},
        "field_rules": {"customer": {"phone": "hidden", "tier": "hidden", "tags": "hidden", "updated_at": "hidden"}},
    })
    assert role.status_code == 201, role.text
    member = await invite(tenant, roles=["searcher"])
    made = await customer(tenant, name="Sealed Works 密封件", phone=PHONE, tier="platinum", tags=["vipwhale"])
    await found(tenant, PHONE, made["id"])
    hit = await found(member, "Sealed", made["id"])
    assert set(hit["highlight"]) == {"name"}
    assert not {"tier", "tags", "updated_at"} & set(hit), hit
    shown = await search(member, "Sealed")
    for text in ("platinum", "vipwhale", "9876", made["updated_at"][:19]):
        assert text not in shown.text, text
    # The admin's hit has them (the same search, a role that sees the fields).
    full = await found(tenant, "Sealed", made["id"])
    assert full["tier"] == "platinum" and full["tags"] == ["vipwhale"] and full["updated_at"]
    # Not matched on a hidden phone.
    assert ids(await search(member, PHONE)) == []
    # Newest first orders by updated_at: refused when it is hidden, answered otherwise.
    recent = await search(member, "Sealed", sort="recent")
    assert recent.status_code == 403, recent.text
    assert recent.headers["content-type"].startswith("application/problem+json")
    assert recent.json()["type"].endswith("field-hidden") and "updated_at" in recent.json()["detail"]
    assert ids(await search(tenant, "Sealed", sort="recent")) == [made["id"]]
    # Facets of hidden fields are refused; others count without them.
    for facet in ("tier", "tag"):
        assert (await search(member, "Sealed", facets=facet)).status_code == 403, facet
    counted = await search(member, "Sealed", facets="type,lifecycle_stage")
    assert counted.status_code == 200, counted.text
    assert counted.json()["facets"]["type"] == {"customer": 1} and "platinum" not in counted.text
