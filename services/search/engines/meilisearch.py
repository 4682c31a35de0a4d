"""The Meilisearch engine (production), through the async client ``meilisearch-python-sdk``.

* One shared index per record type (``huike_<type>``) for every tenant: Meilisearch keeps about
  twenty indexes open, so thousands of tenants share them. Document id ``<tenant>_<record id>``.
* Isolation: every search carries ``tenant_id = "<caller's tenant>"`` as the first filter, built
  here from the verified credential; nothing the client sends reaches the filter unescaped.
  ``tenant_token`` makes a tenant token with the same rule for any direct client access.
* Settings set by the service (``start``): searchable attributes (``t_<field>``: the lexemes of
  ``text.py``, so finer Chinese segments, pinyin and phone forms match too), filterable, sortable,
  ranking rules, typo tolerance (1 typo from 5 letters, 2 from 9).
* A hidden field is left out with ``attributesToSearchOn``; highlighting is done by the service
  (``text.highlight``) from the visible fields only, the same as the PostgreSQL engine.
* Version order, tombstones, the reindex sweep and reconciliation use ``search.meili_ledger`` in
  PostgreSQL: only a change the ledger accepts is sent, and a batch waits for its tasks.
* A child's customer must be visible and not deleted: hits are checked against the ledger.

Unverified against a live server in this repository's CI when none is reachable (the contract
tests then skip with that reason).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from meilisearch_python_sdk import AsyncClient
from meilisearch_python_sdk.models.settings import MeilisearchSettings, MinWordSizeForTypos, TypoTolerance

from services.search import text
from services.search.access import SearchAccess
from services.search.documents import ATTACHMENTS, CHILD_TYPES, FIELDS, FILTER_FIELDS, TYPES, Document, set_field
from services.search.engines.base import FILTER_ATTRIBUTES, EngineResult, RawHit, SearchRequest
from services.search.engines.postgres import Params, scope_sql, stale_documents, upsert_documents
from shared.db import Unit

INDEX_PREFIX = "huike_"
LEDGER = "meili_ledger"
TASK_TIMEOUT_MS = 10_000
OVERFETCH = 3  # child hits are checked against their customer afterwards
FILTERABLE = ["tenant_id", "owner_id", "department_id", "assignee_id", "customer_id", "lifecycle_stage", "tier",
              "tags", "status"]


def index_uid(type_: str) -> str:
    return INDEX_PREFIX + type_


def _pk(tenant_id: uuid.UUID, record_id: uuid.UUID | str) -> str:
    return f"{tenant_id}_{record_id}"


def _quoted(value: Any) -> str:
    """A filter value, always quoted and escaped: client text never becomes filter syntax."""
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def meili_document(tenant_id: uuid.UUID, doc: Document) -> dict[str, Any]:
    out: dict[str, Any] = {
        "pk": _pk(tenant_id, doc.id), "tenant_id": str(tenant_id), "id": str(doc.id), "type": doc.type,
        "version": doc.version, "title": doc.title,
        "customer_id": str(doc.customer_id) if doc.customer_id else None,
        "owner_id": str(doc.owner_id) if doc.owner_id else None,
        "department_id": str(doc.department_id) if doc.department_id else None,
        "assignee_id": str(doc.assignee_id) if doc.assignee_id else None,
        "lifecycle_stage": doc.lifecycle_stage, "tier": doc.tier, "tags": doc.tags, "status": doc.status,
        "updated_at": doc.updated_at.isoformat() if doc.updated_at else None,
        "updated_ts": doc.updated_at.timestamp() if doc.updated_at else 0,
    }
    for name, value in doc.fields.items():
        out[f"f_{name}"] = value
    for name, lexemes in doc.lexemes.items():
        # The exact-title lexeme is the PostgreSQL engine's ranking; Meilisearch ranks exactness itself.
        primary = sorted(x for x in lexemes.primary if not x.startswith(text.EXACT_PREFIX))
        out[f"t_{name}"] = " ".join(primary) + " " + " ".join(sorted(lexemes.derived))
    return out


def index_settings(type_: str) -> MeilisearchSettings:
    return MeilisearchSettings(
        searchable_attributes=[f"t_{name}" for name in FIELDS[type_]],  # title field first
        filterable_attributes=FILTERABLE,
        sortable_attributes=["updated_ts"],
        ranking_rules=["words", "typo", "proximity", "attribute", "sort", "exactness"],
        typo_tolerance=TypoTolerance(enabled=True, min_word_size_for_typos=MinWordSizeForTypos(one_typo=5, two_typos=9)),
    )


def scope_filter(access: SearchAccess, type_: str) -> str | None:
    scope = access.scope(type_)
    if scope is None:
        return None
    if scope.kind == "all":
        return ""
    mine = f"owner_id = {_quoted(scope.user_id)}"
    if scope.assignable:
        mine = f"({mine} OR assignee_id = {_quoted(scope.user_id)})"
    if scope.kind == "own" or not scope.departments:
        return mine
    return f"({mine} OR department_id IN [{', '.join(_quoted(d) for d in scope.departments)}])"


class MeilisearchEngine:
    name = "meilisearch"

    def __init__(self, url: str, key: str) -> None:
        if not url:
            raise ValueError("HUIKE_SEARCH_ENGINE=meilisearch needs HUIKE_MEILISEARCH_URL")
        self.client = AsyncClient(url, key or None, timeout=10)

    async def start(self) -> None:
        """Check Meilisearch answers; create the shared indexes and apply their settings."""
        await self.client.health()
        for type_ in TYPES:
            index = await self.client.get_or_create_index(index_uid(type_), primary_key="pk")
            task = await index.update_settings(index_settings(type_))
            await self.client.wait_for_task(task.task_uid, timeout_in_ms=TASK_TIMEOUT_MS, raise_for_status=True)

    async def close(self) -> None:
        await self.client.aclose()

    def tenant_token(self, tenant_id: uuid.UUID, api_key: Any, expires_at: datetime) -> str:
        """A search-only token whose every query is limited to the tenant (direct client access)."""
        rules = {index_uid(t): {"filter": f"tenant_id = {_quoted(tenant_id)}"} for t in TYPES}
        return self.client.generate_tenant_token(rules, api_key=api_key, expires_at=expires_at)

    async def apply(self, unit: Unit, docs: Sequence[Document], *, replay: bool = False,
                    background: bool = False) -> int:
        accepted = await upsert_documents(unit, docs, replay=replay, with_text=False, table=LEDGER)
        upserts: dict[str, list[dict[str, Any]]] = defaultdict(list)
        deletions: dict[str, list[str]] = defaultdict(list)
        for doc in accepted:
            if doc.deleted:
                deletions[doc.type].append(_pk(unit.tenant_id, doc.id))
            else:
                upserts[doc.type].append(meili_document(unit.tenant_id, doc))
        await self._send(upserts, deletions)
        return len(accepted)

    async def _send(self, upserts: dict[str, list[dict[str, Any]]], deletions: dict[str, list[str]]) -> None:
        tasks = []
        for type_, documents in upserts.items():
            tasks.append(await self.client.index(index_uid(type_)).add_documents(documents, primary_key="pk"))
        for type_, pks in deletions.items():
            tasks.append(await self.client.index(index_uid(type_)).delete_documents(pks))
        # Acknowledge the events only once Meilisearch has applied them (a failure is retried).
        await asyncio.gather(*(self.client.wait_for_task(t.task_uid, timeout_in_ms=TASK_TIMEOUT_MS,
                                                         raise_for_status=True) for t in tasks))

    async def set_attachments(self, unit: Unit, type_: str, record_id: uuid.UUID, names: Sequence[str]) -> bool:
        live = await unit.fetchval(
            f"SELECT NOT deleted FROM search.{LEDGER} WHERE tenant_id = $1 AND type = $2 AND id = $3 FOR UPDATE",
            unit.tenant_id, type_, record_id)
        if not live:
            return False
        doc = Document(type=type_, id=record_id, version=0)
        set_field(doc, ATTACHMENTS, list(names))
        lexemes = doc.lexemes.get(ATTACHMENTS)
        # A partial update: Meilisearch merges these attributes into the stored document.
        partial = {"pk": _pk(unit.tenant_id, record_id), f"f_{ATTACHMENTS}": doc.fields.get(ATTACHMENTS),
                   f"t_{ATTACHMENTS}": (" ".join(sorted(lexemes.primary)) + " " + " ".join(sorted(lexemes.derived))
                                        if lexemes else "")}
        task = await self.client.index(index_uid(type_)).update_documents([partial], primary_key="pk")
        await self.client.wait_for_task(task.task_uid, timeout_in_ms=TASK_TIMEOUT_MS, raise_for_status=True)
        return True

    async def sweep(self, unit: Unit, before: datetime) -> int:
        stale = await stale_documents(unit, before, table=LEDGER)
        deletions: dict[str, list[str]] = defaultdict(list)
        for type_, record_id in stale:
            deletions[type_].append(_pk(unit.tenant_id, record_id))
        await self._send({}, deletions)
        return len(stale)

    async def purge_tenant(self, tenant_id: uuid.UUID) -> int:
        """Delete the tenant's documents from every shared index, by the same filter its searches use."""
        tasks = [await self.client.index(index_uid(type_)).delete_documents_by_filter(
            f"tenant_id = {_quoted(tenant_id)}") for type_ in TYPES]
        done = await asyncio.gather(*(self.client.wait_for_task(t.task_uid, timeout_in_ms=TASK_TIMEOUT_MS,
                                                                raise_for_status=True) for t in tasks))
        return sum(int((getattr(task, "details", None) or {}).get("deletedDocuments") or 0) for task in done)

    async def search(self, unit: Unit, request: SearchRequest) -> EngineResult:
        """The query's character pairs; when it has other forms, its sounds and phone tails as a
        second query (homophone typos, 尾号), whose hits rank below the first's."""
        strict = await self._search(unit, request, request.query.engine_text)
        loose_text = request.query.engine_loose_text
        if loose_text == request.query.engine_text:
            return strict
        loose = await self._search(unit, request, loose_text)
        seen = {(h.type, h.id) for h in strict.hits}
        for hit in strict.hits:
            hit.score += 1  # Meilisearch's scores are in 0..1: the first query's hits first
        hits = strict.hits + [h for h in loose.hits if (h.type, h.id) not in seen]
        if request.sort == "recent":
            hits.sort(key=lambda h: -(h.updated_at or datetime.min).timestamp())
        best = strict if strict.total >= loose.total else loose
        return EngineResult(hits[: request.limit], best.total, best.facets)

    async def _search(self, unit: Unit, request: SearchRequest, q: str) -> EngineResult:
        access = request.access
        searches = []
        for type_ in request.types:
            visible = access.visible_fields(type_)
            scope = scope_filter(access, type_)
            if not visible or scope is None or (type_ in CHILD_TYPES and access.scope("customer") is None):
                continue
            filters = [f"tenant_id = {_quoted(unit.tenant_id)}"] + ([scope] if scope else [])
            applicable = True
            for name, value in request.filters.items():
                attribute = FILTER_ATTRIBUTES[name]
                if attribute not in FILTER_FIELDS[type_]:
                    applicable = False
                    break
                filters.append(f"{attribute} = {_quoted(value)}")
            if not applicable:
                continue
            facets = [FILTER_ATTRIBUTES[f] for f in request.facets
                      if f != "type" and FILTER_ATTRIBUTES[f] in FILTER_FIELDS[type_]
                      and not access.filter_hidden(type_, FILTER_ATTRIBUTES[f])]
            searches.append((type_, self.client.index(index_uid(type_)).search(
                q, limit=request.limit * (OVERFETCH if type_ in CHILD_TYPES else 1),
                filter=" AND ".join(f"({f})" for f in filters), facets=facets or None,
                attributes_to_search_on=[f"t_{name}" for name in visible], matching_strategy="all",
                sort=["updated_ts:desc"] if request.sort == "recent" else None, show_ranking_score=True,
            )))
        results = await asyncio.gather(*(s for _, s in searches))
        hits: list[RawHit] = []
        total = 0
        facets: dict[str, dict[str, int]] = {f: {} for f in request.facets}
        for (type_, _), result in zip(searches, results, strict=True):
            total += result.estimated_total_hits or 0
            if "type" in facets and result.estimated_total_hits:
                facets["type"][type_] = result.estimated_total_hits
            for attribute, counts in (result.facet_distribution or {}).items():
                name = "tag" if attribute == "tags" else attribute
                for value, n in counts.items():
                    facets[name][value] = facets[name].get(value, 0) + n
            hits += [self._hit(type_, h) for h in result.hits]
        hits = await self._visible_customers(unit, access, hits)
        key = (lambda h: -h.score) if request.sort == "relevance" else (lambda h: -(h.updated_at or datetime.min).timestamp())
        hits.sort(key=key)
        return EngineResult(hits[: request.limit], total, facets)

    def _hit(self, type_: str, h: dict[str, Any]) -> RawHit:
        return RawHit(
            type=type_, id=uuid.UUID(h["id"]), version=h["version"], title=h.get("title") or "",
            fields={k[2:]: v for k, v in h.items() if k.startswith("f_") and isinstance(v, str)},
            customer_id=uuid.UUID(h["customer_id"]) if h.get("customer_id") else None,
            owner_id=uuid.UUID(h["owner_id"]) if h.get("owner_id") else None,
            lifecycle_stage=h.get("lifecycle_stage"), tier=h.get("tier"), tags=list(h.get("tags") or []),
            status=h.get("status"),
            updated_at=datetime.fromisoformat(h["updated_at"]) if h.get("updated_at") else None,
            score=float(h.get("_rankingScore") or 0),
        )

    async def _visible_customers(self, unit: Unit, access: SearchAccess, hits: list[RawHit]) -> list[RawHit]:
        """Drop child hits whose customer the caller cannot see (or that is deleted); name the rest."""
        wanted = {h.customer_id for h in hits if h.type in CHILD_TYPES and h.customer_id}
        if not wanted:
            return [h for h in hits if h.type not in CHILD_TYPES]
        params = Params(unit.tenant_id, list(wanted))
        scope = scope_sql(access, "customer", "c", params)
        if scope is None:
            return [h for h in hits if h.type not in CHILD_TYPES]
        rows = await unit.fetch(
            f"""SELECT c.id, c.title FROM search.{LEDGER} c
                WHERE c.tenant_id = $1 AND c.type = 'customer' AND c.id = ANY($2::uuid[]) AND NOT c.deleted
                  AND {scope}""",
            *params.values,
        )
        titles = {r["id"]: r["title"] for r in rows}
        kept = []
        for hit in hits:
            if hit.type in CHILD_TYPES:
                if hit.customer_id not in titles:
                    continue
                hit.customer_title = titles[hit.customer_id]
            kept.append(hit)
        return kept
