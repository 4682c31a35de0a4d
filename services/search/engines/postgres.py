"""The PostgreSQL engine: documents in ``search.documents``, lexemes in a GIN-indexed tsvector.

Each lexeme is stored as ``<field>|<lexeme>`` (built by ``text.py``, never parsed by PostgreSQL's
text search parser), so a query names exactly the fields the caller may see: a hidden field is
left out of the match. A query word becomes an OR of its forms over the visible fields, words are
ANDed, the last word also matches as a prefix (``:*``), and a Latin word of 5+ letters also
matches the tenant's words within its typo budget, found with pg_trgm in ``search.terms``.
Ranking is ``ts_rank`` over weighted lexemes (title A, other fields B, derived forms D).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from services.search import text
from services.search.access import SearchAccess
from services.search.documents import CHILD_TYPES, FIELDS, FILTER_FIELDS, TITLE_FIELD, Document
from services.search.engines.base import FILTER_ATTRIBUTES, EngineResult, RawHit, SearchRequest
from shared.db import Unit

MAX_POSITION = 16383  # tsvector positions stop there
TYPO_CANDIDATES = 30
TOTAL_CAP = 10_000  # counting stops here: total_estimate is an estimate


def _quote(lexeme: str) -> str:
    """A lexeme as tsvector / tsquery input takes it, verbatim."""
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


def tsvector_text(doc: Document) -> str | None:
    """``'field|lexeme':<pos><weight> ...`` with the weight of the strongest form of each lexeme."""
    if doc.deleted:
        return None
    weights: dict[str, str] = {}
    for name, lexemes in doc.lexemes.items():
        strong = "A" if name == TITLE_FIELD[doc.type] else "B"
        for lexeme in lexemes.derived:
            weights.setdefault(f"{name}|{lexeme}", "D")
        for lexeme in lexemes.primary:
            weights[f"{name}|{lexeme}"] = strong
    return " ".join(f"{_quote(lex)}:{min(i, MAX_POSITION)}{w}" for i, (lex, w) in enumerate(weights.items(), 1))


def vocabulary(docs: Sequence[Document]) -> list[str]:
    """The Latin words worth a typo correction (5+ letters) of the documents' text fields."""
    words: set[str] = set()
    for doc in docs:
        for name, lexemes in doc.lexemes.items():
            if FIELDS[doc.type].get(name) == "text":
                words.update(w for w in lexemes.primary if text.typo_budget(w) and len(w) <= text.MAX_TOKEN)
    return sorted(words)


def _newest(docs: Sequence[Document]) -> list[Document]:
    """One document per key, the highest version (the last one given among equals)."""
    best: dict[tuple[str, uuid.UUID], Document] = {}
    for doc in docs:
        current = best.get(doc.key)
        if current is None or doc.version >= current.version:
            best[doc.key] = doc
    return list(best.values())


def _rows(docs: Sequence[Document], with_text: bool) -> list[dict[str, Any]]:
    return [{
        "type": d.type, "id": str(d.id), "version": d.version, "deleted": d.deleted,
        "customer_id": str(d.customer_id) if d.customer_id else None,
        "owner_id": str(d.owner_id) if d.owner_id else None,
        "department_id": str(d.department_id) if d.department_id else None,
        "assignee_id": str(d.assignee_id) if d.assignee_id else None,
        "lifecycle_stage": d.lifecycle_stage, "tier": d.tier, "tags": d.tags, "status": d.status,
        "title": d.title, "fields": d.fields if with_text else {},
        "lexemes": tsvector_text(d) if with_text else None,
        "updated_at": d.updated_at.isoformat() if d.updated_at else None,
    } for d in docs]


_RECORDSET = """jsonb_to_recordset($2::jsonb) AS x(
    type text, id uuid, version integer, deleted boolean, customer_id uuid, owner_id uuid, department_id uuid,
    assignee_id uuid, lifecycle_stage text, tier text, tags text[], status text, title text, fields jsonb,
    lexemes text, updated_at timestamptz)"""


async def upsert_documents(unit: Unit, docs: Sequence[Document], *, replay: bool, with_text: bool,
                           table: str = "documents") -> list[Document]:
    """Write documents where they are newer than what is stored; answer the ones written.

    Set-based (one statement per batch). ``replay``: equal versions are rewritten too (a reindex
    after a settings change), and every given document is marked as seen for the sweep. ``table``:
    ``documents`` (this engine) or ``meili_ledger`` (the Meilisearch engine's versions, no text)."""
    assert table in ("documents", "meili_ledger")
    docs = _newest(docs)
    if not docs:
        return []
    rows = _rows(docs, with_text)
    await unit.execute("INSERT INTO search.tenants (id) VALUES ($1) ON CONFLICT DO NOTHING", unit.tenant_id)
    if replay:
        await unit.execute(
            f"""UPDATE search.{table} d SET indexed_at = now() FROM {_RECORDSET}
                WHERE d.tenant_id = $1 AND d.type = x.type AND d.id = x.id""",
            unit.tenant_id, rows,
        )
    written = await unit.fetch(
        f"""INSERT INTO search.{table} AS d (tenant_id, type, id, version, deleted, customer_id, owner_id,
                department_id, assignee_id, lifecycle_stage, tier, tags, status, title, fields, lexemes, updated_at)
            SELECT $1, x.type, x.id, x.version, x.deleted, x.customer_id, x.owner_id, x.department_id, x.assignee_id,
                   x.lifecycle_stage, x.tier, coalesce(x.tags, '{{}}'), x.status, coalesce(x.title, ''),
                   coalesce(x.fields, '{{}}'), x.lexemes::tsvector, x.updated_at
            FROM {_RECORDSET}
            ON CONFLICT (tenant_id, type, id) DO UPDATE SET
              version = excluded.version, deleted = excluded.deleted, customer_id = excluded.customer_id,
              owner_id = excluded.owner_id, department_id = excluded.department_id,
              assignee_id = excluded.assignee_id, lifecycle_stage = excluded.lifecycle_stage,
              tier = excluded.tier, tags = excluded.tags, status = excluded.status, title = excluded.title,
              fields = excluded.fields, lexemes = excluded.lexemes, updated_at = excluded.updated_at,
              indexed_at = now()
            WHERE excluded.version > d.version OR ($3 AND excluded.version = d.version)
            RETURNING d.type, d.id""",
        unit.tenant_id, rows, replay,
    )
    if with_text:
        words = vocabulary(docs)
        if words:
            await unit.execute(
                "INSERT INTO search.terms (tenant_id, term) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING",
                unit.tenant_id, words,
            )
    keys = {(r["type"], r["id"]) for r in written}
    return [d for d in docs if d.key in keys]


async def stale_documents(unit: Unit, before: datetime, table: str = "documents") -> list[tuple[str, uuid.UUID]]:
    """Live documents a replay did not touch, turned into tombstones; answers their keys."""
    assert table in ("documents", "meili_ledger")
    rows = await unit.fetch(
        f"""UPDATE search.{table} SET deleted = true, lexemes = NULL, fields = '{{}}', indexed_at = now()
           WHERE tenant_id = $1 AND NOT deleted AND indexed_at < $2 RETURNING type, id""",
        unit.tenant_id, before,
    )
    return [(r["type"], r["id"]) for r in rows]


class Params:
    """Positional SQL parameters: ``p.add(value)`` answers its ``$n``."""

    def __init__(self, *initial: Any) -> None:
        self.values: list[Any] = list(initial)

    def add(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


def scope_sql(access: SearchAccess, type_: str, alias: str, params: Params) -> str | None:
    """The data scope of ``type_`` on rows of ``alias``; None when the caller sees none."""
    scope = access.scope(type_)
    if scope is None:
        return None
    if scope.kind == "all":
        return "TRUE"
    user = params.add(scope.user_id)
    mine = f"{alias}.owner_id = {user}"
    if scope.assignable:
        mine = f"({mine} OR {alias}.assignee_id = {user})"
    if scope.kind == "own":
        return mine
    return f"({mine} OR {alias}.department_id = ANY({params.add(list(scope.departments))}::uuid[]))"


def tsquery_text(query: text.ParsedQuery, fields: Sequence[str]) -> str:
    """Every term (AND) as any of its forms (OR) in any of ``fields``."""
    parts = []
    for term in query.terms:
        options = [f"{_quote(f'{name}|{alt.lexeme}')}{':*' if alt.prefix else ''}"
                   for alt in term.alts for name in fields]
        parts.append("(" + " | ".join(options) + ")")
    return " & ".join(parts)


async def expand_typos(unit: Unit, query: text.ParsedQuery) -> text.ParsedQuery:
    """Add, to each typo-eligible word, the tenant's words within its typo budget."""
    terms = []
    for term in query.terms:
        budget = text.typo_budget(term.text) if term.typo else 0
        if budget:
            await unit.execute("SELECT set_config('pg_trgm.similarity_threshold', '0.3', true)")
            rows = await unit.fetch(
                """SELECT term FROM search.terms WHERE tenant_id = $1 AND term % $2
                   ORDER BY similarity(term, $2) DESC LIMIT $3""",
                unit.tenant_id, term.text, TYPO_CANDIDATES,
            )
            near = [r["term"] for r in rows if r["term"] != term.text
                    and text.edit_distance(term.text, r["term"], budget) <= budget]
            term = term.with_alts(text.Alt(word) for word in near)
        terms.append(term)
    return text.ParsedQuery(tuple(terms))


def _branch(query: text.ParsedQuery, request: SearchRequest, type_: str, params: Params) -> tuple[str, str] | None:
    """The WHERE branch of one type and its tsquery parameter, or None (and no parameters left behind) when the caller
    cannot find any document of that type with these filters."""
    mark = len(params.values)
    access = request.access
    visible = access.visible_fields(type_)
    scope = scope_sql(access, type_, "d", params)
    conditions: list[str] = []
    tsquery = ""
    if visible and scope is not None and query.terms:
        conditions = [f"d.type = {params.add(type_)}"]
        tsquery = params.add(tsquery_text(query, visible))
        conditions += [f"d.lexemes @@ {tsquery}::tsquery", scope]
    if conditions and type_ in CHILD_TYPES:
        customer_scope = scope_sql(access, "customer", "c", params)
        conditions += ["c.id IS NOT NULL", "NOT c.deleted", customer_scope] if customer_scope else []
        if customer_scope is None:
            conditions = []
    for name, value in request.filters.items():
        if not conditions:
            break
        attribute = FILTER_ATTRIBUTES[name]
        if attribute not in FILTER_FIELDS[type_]:
            conditions = []
            break
        placeholder = params.add(value)
        conditions.append(f"{placeholder} = ANY(d.tags)" if attribute == "tags" else f"d.{attribute} = {placeholder}")
    if not conditions:
        del params.values[mark:]
        return None
    return "(" + " AND ".join(conditions) + ")", tsquery


class PostgresEngine:
    name = "postgres"

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def apply(self, unit: Unit, docs: Sequence[Document], *, replay: bool = False) -> int:
        return len(await upsert_documents(unit, docs, replay=replay, with_text=True))

    async def sweep(self, unit: Unit, before: datetime) -> int:
        return len(await stale_documents(unit, before))

    async def search(self, unit: Unit, request: SearchRequest) -> EngineResult:
        query = await expand_typos(unit, request.query)
        params = Params(unit.tenant_id)
        branches = []
        rank_cases = []
        for type_ in request.types:
            branch = _branch(query, request, type_, params)
            if branch is None:
                continue
            branches.append(branch[0])
            rank_cases.append(f"WHEN '{type_}' THEN ts_rank(d.lexemes, {branch[1]}::tsquery)")
        if not branches:
            return EngineResult([], 0, {f: {} for f in request.facets})
        matched = f"""
            SELECT d.type, d.id, d.version, d.title, d.fields, d.customer_id, d.owner_id, d.lifecycle_stage,
                   d.tier, d.tags, d.status, d.updated_at, c.title AS customer_title,
                   CASE d.type {' '.join(rank_cases)} ELSE 0 END AS rank
            FROM search.documents d
            LEFT JOIN search.documents c
              ON c.tenant_id = d.tenant_id AND c.type = 'customer' AND c.id = d.customer_id AND d.type <> 'customer'
            WHERE d.tenant_id = $1 AND NOT d.deleted AND ({' OR '.join(branches)})
            LIMIT {TOTAL_CAP}"""
        order = ("rank DESC, updated_at DESC NULLS LAST, id" if request.sort == "relevance"
                 else "updated_at DESC NULLS LAST, id")
        rows = await unit.fetch(
            f"""WITH matched AS ({matched})
                SELECT *, count(*) OVER () AS total FROM matched ORDER BY {order} LIMIT {int(request.limit)}""",
            *params.values,
        )
        hits = [RawHit(
            type=r["type"], id=r["id"], version=r["version"], title=r["title"], fields=r["fields"],
            customer_id=r["customer_id"], customer_title=r["customer_title"], owner_id=r["owner_id"],
            lifecycle_stage=r["lifecycle_stage"], tier=r["tier"], tags=list(r["tags"]), status=r["status"],
            updated_at=r["updated_at"], score=float(r["rank"]),
        ) for r in rows]
        total = rows[0]["total"] if rows else 0
        facets = await self._facets(unit, request, matched, params) if request.facets else {}
        return EngineResult(hits, total, facets)

    async def _facets(self, unit: Unit, request: SearchRequest, matched: str, params: Params
                      ) -> dict[str, dict[str, int]]:
        selects = []
        for facet in request.facets:
            if facet == "type":
                selects.append("SELECT 'type' AS facet, type AS value, count(*) AS n FROM matched GROUP BY type")
                continue
            attribute = FILTER_ATTRIBUTES[facet]
            # Only types that have the attribute and do not hide it from the caller count.
            types = [t for t in request.types
                     if attribute in FILTER_FIELDS[t] and not request.access.filter_hidden(t, attribute)]
            if not types:
                continue
            values = "unnest(tags)" if attribute == "tags" else f"{attribute}::text"
            selects.append(
                f"""SELECT '{facet}' AS facet, value, count(*) AS n
                    FROM (SELECT {values} AS value FROM matched WHERE type = ANY({params.add(types)}::text[])) v
                    WHERE value IS NOT NULL GROUP BY value"""
            )
        facets: dict[str, dict[str, int]] = {f: {} for f in request.facets}
        if selects:
            rows = await unit.fetch(f"WITH matched AS ({matched}) " + " UNION ALL ".join(selects), *params.values)
            for r in rows:
                facets[r["facet"]][r["value"]] = r["n"]
        return facets
