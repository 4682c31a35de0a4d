"""A deleted tenant's documents leave the search engine (contract: both engines).

The PostgreSQL engine's documents are rows of ``search.documents``, which the tenant purge deletes
with every other tenant table (tests/shared/test_tenant_purge.py proves none is left). Meilisearch
keeps them in shared indexes: ``purge_tenant`` deletes them by the tenant filter every search uses.
Skips without a Meilisearch (the fixture says why)."""

from __future__ import annotations

import uuid
from typing import Any

from services.search.engines.meilisearch import MeilisearchEngine, index_uid
from tests.identity.conftest import eventually


async def test_meilisearch_purge_deletes_the_tenants_documents_and_only_those(
    meilisearch_url: str, meilisearch_app: Any, signup, customer
) -> None:
    engine = MeilisearchEngine(meilisearch_url, "")
    await engine.start()
    try:
        doomed, other = await signup(), await signup()
        await customer(doomed, name="删除测试有限公司")
        await customer(other, name="保留测试有限公司")
        index = engine.client.index(index_uid("customer"))

        async def held(tenant_id: str) -> int:
            return len((await index.search("", filter=f'tenant_id = "{tenant_id}"')).hits)

        async def indexed() -> bool:  # by the Meilisearch runtime's indexer
            return await held(doomed.id) == 1 and await held(other.id) == 1

        await eventually(indexed, timeout=10)
        assert await engine.purge_tenant(uuid.UUID(doomed.id)) == 1
        assert await held(doomed.id) == 0
        assert await held(other.id) == 1
    finally:
        await engine.close()
