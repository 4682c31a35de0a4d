"""Lists across services: a cursor is sealed for its tenant (one of another tenant, of the very same
list and sort, is refused as 422 naming ``cursor``), and a query parameter a list does not declare
is refused (422 naming it) in identity and workflows as in records."""

from __future__ import annotations

import httpx

from tests.conftest import SignUp


def names(answer: httpx.Response) -> set[str]:
    assert answer.status_code == 422, answer.text
    return {e["field"] for e in answer.json()["errors"]}


async def test_a_cursor_of_one_tenant_is_refused_in_another(client: httpx.AsyncClient, signup: SignUp) -> None:
    a, b = await signup(), await signup()
    for tenant in (a, b):
        for name in ("客户一", "客户二"):
            made = await client.post("/api/v1/customers", json={"name": f"{name} {tenant.slug}"}, headers=tenant.headers)
            assert made.status_code == 201, made.text
    for path in ("/api/v1/customers?limit=1&sort=name", "/api/v1/roles?limit=1"):
        first = (await client.get(path, headers=a.headers)).json()
        assert first["next_cursor"], path
        own = await client.get(f"{path}&cursor={first['next_cursor']}", headers=a.headers)
        assert own.status_code == 200 and own.json()["items"] != first["items"]
        assert names(await client.get(f"{path}&cursor={first['next_cursor']}", headers=b.headers)) == {"cursor"}


async def test_identity_and_workflows_lists_refuse_undeclared_parameters(
    client: httpx.AsyncClient, signup: SignUp
) -> None:
    tenant = await signup()
    for path, bad in (("/api/v1/users?status=active&departmnet_id=x", {"departmnet_id"}),
                      ("/api/v1/roles?limit=5&q=admin", {"q"}),
                      ("/api/v1/workflows?enabeld=true&sort=name", {"enabeld", "sort"}),
                      ("/api/v1/approvals?assigned_to=me&mine=1", {"mine"}),
                      ("/api/v1/approval-templates?entity=customer", {"entity"})):
        assert names(await client.get(path, headers=tenant.headers)) == bad, path
    for path in ("/api/v1/users?status=active&limit=1", "/api/v1/workflows?enabled=true",
                 "/api/v1/approvals?assigned_to=me"):
        assert (await client.get(path, headers=tenant.headers)).status_code == 200, path
