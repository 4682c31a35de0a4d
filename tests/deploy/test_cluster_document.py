"""One API document in the cluster shape: a process serving one service (``huike serve records``)
routes only its own paths, yet its ``/schema/openapi.json`` is the whole API's document, equal to
the embedded default's, so the gateway may send ``/schema`` to any service."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from services.registry import ALL_SERVICES, BY_NAME
from shared.http import create_app
from shared.runtime import Runtime
from shared.settings import Settings


async def _get(app: Any, path: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://huike.test") as c:
        return await c.get(path)


@pytest.mark.parametrize("service", [s.name for s in ALL_SERVICES])
async def test_a_single_service_process_serves_the_whole_api_document(app: Any, settings: Settings,
                                                                       service: str) -> None:
    embedded = (await _get(app, "/schema/openapi.json")).json()
    alone = create_app(Runtime(settings, (BY_NAME[service],)), manage_runtime=False, documented=ALL_SERVICES)

    whole = (await _get(alone, "/schema/openapi.json")).json()
    assert whole["paths"] == embedded["paths"]
    assert whole["components"] == embedded["components"]
    assert whole == embedded

    # Its own document, and its routing, are its own service's only.
    own = (await _get(alone, "/schema/service.json")).json()
    assert set(own["paths"]) < set(whole["paths"])
    other = "/api/v1/customers" if service != "records" else "/api/v1/users"
    assert other in whole["paths"] and other not in own["paths"]
    routed = await _get(alone, other)
    assert routed.status_code == 404


async def test_without_composition_a_service_documents_only_itself(settings: Settings) -> None:
    """What the cluster would serve without it: identity's document without records' paths."""
    alone = create_app(Runtime(settings, (BY_NAME["identity"],)), manage_runtime=False)
    document = (await _get(alone, "/schema/openapi.json")).json()
    assert "/api/v1/users" in document["paths"]
    assert "/api/v1/customers" not in document["paths"]
