"""The interface both engines implement, and what a search asks and answers.

Every engine method runs inside the search service's tenant unit (``search`` schema, RLS): the
PostgreSQL engine keeps its documents there; the Meilisearch engine keeps its version ledger there
(the same ``search.documents`` rows without lexemes) and sends accepted changes to Meilisearch.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from services.search.access import SearchAccess
from services.search.documents import Document
from services.search.text import ParsedQuery
from shared.db import Unit

FACETS: tuple[str, ...] = ("type", "owner_id", "lifecycle_stage", "tier", "tag", "status")
# Filter parameter → document attribute.
FILTER_ATTRIBUTES = {"owner_id": "owner_id", "lifecycle_stage": "lifecycle_stage", "tier": "tier", "tag": "tags",
                     "status": "status"}


@dataclass(frozen=True)
class SearchRequest:
    query: ParsedQuery
    access: SearchAccess
    types: tuple[str, ...]
    filters: dict[str, Any] = field(default_factory=dict)  # parameter name → value (checked)
    sort: str = "relevance"
    limit: int = 20
    facets: tuple[str, ...] = ()


@dataclass
class RawHit:
    type: str
    id: uuid.UUID
    version: int
    title: str
    fields: dict[str, str]
    customer_id: uuid.UUID | None = None
    customer_title: str | None = None
    owner_id: uuid.UUID | None = None
    lifecycle_stage: str | None = None
    tier: str | None = None
    tags: list[str] = field(default_factory=list)
    status: str | None = None
    updated_at: datetime | None = None
    score: float = 0.0


@dataclass
class EngineResult:
    hits: list[RawHit]
    total: int
    facets: dict[str, dict[str, int]] = field(default_factory=dict)


class Engine(Protocol):
    name: str

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def apply(self, unit: Unit, docs: Sequence[Document], *, replay: bool = False,
                    background: bool = False) -> int:
        """Upsert documents and tombstones, newest version wins (``replay``: an equal version is
        rewritten too, and every given document is marked as seen). ``background``: bulk work (an
        import's lane, a reindex) that may take on the engine's deferred upkeep; a live write never
        does. Answers how many changed."""
        ...

    async def sweep(self, unit: Unit, before: datetime) -> int:
        """Remove live documents not seen since ``before`` (after a full replay)."""
        ...

    async def set_attachments(self, unit: Unit, type_: str, record_id: uuid.UUID, names: Sequence[str]) -> bool:
        """Replace the ``attachments`` field of a live document with ``names``, its version kept
        (an attachment was added or removed; the record itself did not change). False: no live
        document (yet): the next build of it takes the names from ``search.attachments``."""
        ...

    async def search(self, unit: Unit, request: SearchRequest) -> EngineResult: ...

    async def purge_tenant(self, tenant_id: uuid.UUID) -> int:
        """Remove every document of a deleted tenant held outside the ``search`` schema's tables
        (whose rows the tenant purge deletes itself); answers how many went, when known."""
        ...
