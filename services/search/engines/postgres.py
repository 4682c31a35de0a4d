"""The PostgreSQL engine: documents in ``search.documents``, lexemes in a GIN-indexed tsvector.

Each lexeme is stored as ``<field>|<lexeme>`` (built by ``text.py``, never parsed by PostgreSQL's
text search parser), so a query names exactly the fields the caller may see: a hidden field is
left out of the match. Each lexeme is also stored bare (``<lexeme>``): a caller who sees every
field of a type asks for the bare forms, one index entry per form. A query word becomes an OR of
its forms (over the visible fields when some are hidden), words are ANDed, the last word also
matches as a prefix (``:*``), and a Latin word of 5+ letters also matches the tenant's words
within its typo budget, found with pg_trgm in ``search.terms``. Ranking is ``ts_rank`` over
weighted lexemes (title A, other fields B, derived forms D). Why the SQL looks the way it does:
README.md, "Performance notes".
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.search import text
from services.search.access import SearchAccess
from services.search.documents import (
    ATTACHMENTS,
    CHILD_TYPES,
    FIELDS,
    FILTER_FIELDS,
    TITLE_FIELD,
    Document,
    set_field,
)
from services.search.engines.base import FILTER_ATTRIBUTES, EngineResult, RawHit, SearchRequest
from shared.db import Unit

MAX_POSITION = 16383  # tsvector positions stop there
TYPO_CANDIDATES = 30
# Matches ranked and counted per type: total_estimate and facet counts stop there (as Meilisearch's
# default maxTotalHits, also per type). Ranking every match of a frequent word cost 100+ ms.
MATCH_CAP = 1_000
# Matches ranked per type, taken in index order (the exact title is looked up on its own and
# always ranked): ranking is what a frequent word paid for (ts_rank and the tier checks read each
# match's lexemes); the page shows at most 100 hits.
RANK_CAP = 200
# Exact titles looked up per type: the largest page the API answers.
EXACT_CAP = 100
# gin_pending_list_limit's largest value (kB): what a live write's transaction sets.
MAX_PENDING_LIST_KB = "2147483647"
# How often the background merges the GIN indexes' pending lists.
MERGE_INTERVAL_SECONDS = 1.0


def _quote(lexeme: str) -> str:
    """A lexeme as tsvector / tsquery input takes it, verbatim."""
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


def tsvector_text(doc: Document) -> str | None:
    """``'field|lexeme':<pos><weight> ...`` with the weight of the strongest form of each lexeme,
    then every lexeme once more without its field and position (``'lexeme'``): what a caller who
    may see every field of the type matches, with one index entry per query form."""
    if doc.deleted:
        return None
    weights: dict[str, str] = {}
    bare: set[str] = set()
    for name, lexemes in doc.lexemes.items():
        strong = "A" if name == TITLE_FIELD[doc.type] else "B"
        for lexeme in lexemes.derived:
            weights.setdefault(f"{name}|{lexeme}", "D")
        for lexeme in lexemes.primary:
            weights[f"{name}|{lexeme}"] = strong
        bare |= lexemes.primary | lexemes.derived
    fielded = (f"{_quote(lex)}:{min(i, MAX_POSITION)}{w}" for i, (lex, w) in enumerate(weights.items(), 1))
    return " ".join([*fielded, *(_quote(lex) for lex in sorted(bare))])


def vocabulary(docs: Sequence[Document]) -> list[str]:
    """The Latin words worth a typo correction (5+ letters) of the documents' text fields."""
    words: set[str] = set()
    for doc in docs:
        for name, lexemes in doc.lexemes.items():
            if FIELDS[doc.type].get(name) == "text":
                words.update(w for w in lexemes.primary if text.typo_budget(w) and len(w) <= text.MAX_TOKEN)
    return sorted(words)


def _newest(docs: Sequence[Document]) -> list[Document]:
    """One document per key, the highest version (the last one given among equals), in key order:
    every writer then locks rows in the same order, so the indexer's lanes and a reindex writing
    the same documents at once wait for each other instead of deadlocking."""
    best: dict[tuple[str, uuid.UUID], Document] = {}
    for doc in docs:
        current = best.get(doc.key)
        if current is None or doc.version >= current.version:
            best[doc.key] = doc
    return [best[key] for key in sorted(best)]


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
    await unit.execute("INSERT INTO search.tenants (id, analysis) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                       unit.tenant_id, text.ANALYSIS_VERSION)
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


async def set_attachment_names(unit: Unit, type_: str, record_id: uuid.UUID, names: Sequence[str]) -> bool:
    """Rewrite the ``attachments`` field of a live document in place (its version stays: the record
    did not change). Its other fields' lexemes are kept as stored; the bare forms are derived again
    from every field's, since a bare form may come from several fields. False: no live document."""
    row = await unit.fetchrow(
        "SELECT fields FROM search.documents WHERE tenant_id = $1 AND type = $2 AND id = $3 AND NOT deleted "
        "FOR UPDATE", unit.tenant_id, type_, record_id)
    if row is None:
        return False
    entries = await unit.fetch(
        """SELECT e.lexeme, e.positions, e.weights FROM search.documents d, unnest(d.lexemes) e
           WHERE d.tenant_id = $1 AND d.type = $2 AND d.id = $3""", unit.tenant_id, type_, record_id)
    doc = Document(type=type_, id=record_id, version=0)
    set_field(doc, ATTACHMENTS, list(names))
    prefix = f"{ATTACHMENTS}|"
    kept = [e for e in entries if e["positions"] and not e["lexeme"].startswith(prefix)]
    parts = [f"{_quote(e['lexeme'])}:" + ",".join(f"{p}{w}" for p, w in zip(e["positions"], e["weights"], strict=True))
             for e in kept]
    bare = {e["lexeme"].split("|", 1)[1] for e in kept if "|" in e["lexeme"]}
    position = max((p for e in kept for p in e["positions"]), default=0)
    added = doc.lexemes.get(ATTACHMENTS)
    if added is not None:
        weights = dict.fromkeys(sorted(added.derived), "D") | dict.fromkeys(sorted(added.primary), "B")
        for lexeme, weight in weights.items():
            position += 1
            parts.append(f"{_quote(prefix + lexeme)}:{min(position, MAX_POSITION)}{weight}")
        bare |= added.primary | added.derived
    parts += [_quote(lexeme) for lexeme in sorted(bare)]
    fields = {k: v for k, v in (row["fields"] or {}).items() if k != ATTACHMENTS} | doc.fields
    await unit.execute(
        """UPDATE search.documents SET lexemes = $4::tsvector, fields = $5::jsonb, indexed_at = now()
           WHERE tenant_id = $1 AND type = $2 AND id = $3""",
        unit.tenant_id, type_, record_id, " ".join(parts) or None, fields)
    words = vocabulary([doc])
    if words:
        await unit.execute(
            "INSERT INTO search.terms (tenant_id, term) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING",
            unit.tenant_id, words)
    return True


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


def _option(name: str, alt: text.Alt) -> str:
    if alt.parts:  # every part, in the same field
        return "(" + " & ".join(_quote(name + part) for part in alt.parts) + ")"
    return f"{_quote(name + alt.lexeme)}{':*' if alt.prefix else ''}"


def tsquery_text(query: text.ParsedQuery, fields: Sequence[str] | None, tier: int = text.Tier.PARTIAL
                 ) -> str | None:
    """Every term (AND) as any of its forms (OR) in any of ``fields``; ``fields`` None: in any
    field (the bare lexemes), so each form is one index entry whatever the number of fields.
    Only forms of ``tier`` or better; None when a term has none."""
    parts = []
    for term in query.terms:
        names = [f"{name}|" for name in fields] if fields is not None else [""]
        options = [_option(name, alt) for alt in term.alts if alt.tier <= tier for name in names]
        if not options:
            return None
        parts.append("(" + " | ".join(options) + ")")
    return " & ".join(parts)


# Rank = the best tier the match reaches (the whole title; every term as a word; as the same
# characters; as sounds or typos; else prefixes and phone tails), then ts_rank (below 1) within it.
TIER_POINTS = ((text.Tier.WORD, 4), (text.Tier.CHARS, 2), (text.Tier.SOUND, 1))
EXACT_POINTS = 8


def rank_sql(query: text.ParsedQuery, type_: str, visible: Sequence[str], params: Params) -> str:
    """The rank expression of a branch, over the visible fields' (weighted) lexemes only.

    It reads ``d.lexemes`` once: a document's lexemes (about 4 KB) are stored out of line (TOAST),
    and PostgreSQL fetches such a value again for every function that reads it (here ts_rank and up
    to four ``@@``), so the expression runs on one in-memory copy (``|| ''``: the same vector)."""
    fielded = tsquery_text(query, visible)
    # ts_rank normalised to rank/(rank+1), halved: below 0.5, an order within a tier only
    points = [f"ts_rank(r.lexemes, {params.add(fielded)}::tsquery, 32) / 2"]
    title = TITLE_FIELD[type_]
    if query.whole and title in visible:
        exact = params.add(_quote(f"{title}|{query.whole}"))
        points.append(f"CASE WHEN r.lexemes @@ {exact}::tsquery THEN {EXACT_POINTS} ELSE 0 END")
    for tier, value in TIER_POINTS:
        tiered = tsquery_text(query, visible, tier)
        if tiered is not None and tiered != fielded:
            points.append(f"CASE WHEN r.lexemes @@ {params.add(tiered)}::tsquery THEN {value} ELSE 0 END")
        elif tiered is not None:
            points.append(str(value))  # every form is of this tier: every match reaches it
    return f"(SELECT {' + '.join(points)} FROM (SELECT d.lexemes || ''::tsvector AS lexemes OFFSET 0) r)"


# Trigram similarity from which a vocabulary word is a typo candidate: a transposition in a
# 6-letter word leaves 3 of 11 trigrams shared (0.27), so pg_trgm's default of 0.3 missed it.
TYPO_SIMILARITY = 0.2


async def expand_typos(unit: Unit, query: text.ParsedQuery) -> text.ParsedQuery:
    """Add, to each typo-eligible word, the tenant's words within its typo budget (the unit's
    ``pg_trgm.similarity_threshold`` set to ``TYPO_SIMILARITY``: ``PostgresEngine.search``)."""
    terms = []
    for term in query.terms:
        budget = text.typo_budget(term.text) if term.typo else 0
        if budget:
            rows = await unit.fetch(
                """SELECT term FROM search.terms WHERE tenant_id = $1 AND term % $2
                   ORDER BY similarity(term, $2) DESC LIMIT $3""",
                unit.tenant_id, term.text, TYPO_CANDIDATES,
            )
            near = [r["term"] for r in rows if r["term"] != term.text
                    and text.edit_distance(term.text, r["term"], budget) <= budget]
            term = term.with_alts(text.Alt(word, tier=text.Tier.SOUND) for word in near)
        terms.append(term)
    return text.ParsedQuery(tuple(terms), query.whole)


@dataclass(frozen=True)
class Branch:
    """One type's share of a search: its conditions on ``d`` and its rank expression."""

    type: str
    match: str  # the text match's tsquery parameter
    where: str  # the other conditions (data scope, the child's customer, filters)
    rank: str  # "0" when not ranked
    exact: str | None = None  # the exact-title condition, when the title is visible

    def _from(self, exact: bool = False) -> str:
        # ``type`` is one of TYPES (a constant), so it is written into the SQL: the planner then
        # uses that type's statistics. The exact-title lane asks the index for the title's one rare
        # lexeme only and checks the text match on those few rows (``ts_match_vq``, the function
        # behind ``@@``, is no index condition): as an index condition as well, it made the lane
        # read every posting of the query's words a second time (half of a search's index work).
        match = (f"d.lexemes @@ {self.exact}::tsquery AND ts_match_vq(d.lexemes, {self.match}::tsquery)" if exact
                 else f"d.lexemes @@ {self.match}::tsquery")
        return f"""FROM search.documents d
                    WHERE d.tenant_id = $1 AND d.type = '{self.type}' AND NOT d.deleted AND {match} AND {self.where}"""

    def select(self, columns: str, newest: bool = False) -> str:
        """The type's matches, at most ``MATCH_CAP`` (``newest``: the most recently updated ones)."""
        return f"""(SELECT {columns}, {self.rank}::real AS rank {self._from()}
                    {'ORDER BY d.updated_at DESC NULLS LAST, d.id' if newest else ''} LIMIT {MATCH_CAP})"""

    def ranked(self) -> str:
        """The type's matches, at most ``MATCH_CAP``, of which the first ``RANK_CAP`` in index
        order are ranked (the others rank -1: counted, never above a ranked one). The lexemes of an
        unranked match are never read: only ranking reads them."""
        return f"""(SELECT d.type, d.id, d.updated_at,
                           (CASE WHEN d.n <= {RANK_CAP} THEN {self.rank} ELSE -1 END)::real AS rank
                    FROM (SELECT d.type, d.id, d.updated_at, d.lexemes, row_number() OVER () AS n
                          {self._from()} LIMIT {MATCH_CAP}) d)"""

    def exact_lane(self) -> str | None:
        """The documents whose whole title is the query (a rare lexeme: a short index lookup),
        ranked wherever they are among the matches."""
        if self.exact is None:
            return None
        return f"""(SELECT d.type, d.id, d.updated_at, {self.rank}::real AS rank
                    {self._from(exact=True)} LIMIT {EXACT_CAP})"""


def _branch(query: text.ParsedQuery, request: SearchRequest, type_: str, params: Params, ranked: bool
            ) -> Branch | None:
    """The branch of one type, or None (and no parameters left behind) when the caller cannot find
    any document of that type with these filters.

    One SELECT per type (joined by UNION ALL), so each text match runs on the GIN index of
    (tenant_id, type, owner_id, lexemes), and a child's customer is looked up only for the children that match."""
    mark = len(params.values)
    access = request.access
    visible = access.visible_fields(type_)
    scope = scope_sql(access, type_, "d", params)
    if not visible or scope is None or not query.terms:
        del params.values[mark:]
        return None
    # Who sees every field of the type matches the bare lexemes (few index entries); otherwise
    # only the field-prefixed lexemes of the visible fields may match.
    tsquery = params.add(tsquery_text(query, None if len(visible) == len(FIELDS[type_]) else visible))
    conditions = [scope]
    if type_ in CHILD_TYPES:
        customer_scope = scope_sql(access, "customer", "c", params)
        if customer_scope is None:
            del params.values[mark:]
            return None
        # A scalar subquery, not EXISTS: PostgreSQL turns an EXISTS into a join, and chose to merge
        # the tenant's children in customer order, testing the text match on each row read
        # (17,000 buffers, 200 ms for a frequent word at 112,000 documents) instead of the GIN index.
        # This way the matches come from the index and each is checked by primary key.
        conditions.append(
            f"""COALESCE((SELECT true FROM search.documents c WHERE c.tenant_id = $1 AND c.type = 'customer'
                       AND c.id = d.customer_id AND NOT c.deleted AND {customer_scope}), false)""")
    for name, value in request.filters.items():
        attribute = FILTER_ATTRIBUTES[name]
        if attribute not in FILTER_FIELDS[type_]:
            del params.values[mark:]
            return None
        placeholder = params.add(value)
        conditions.append(f"{placeholder} = ANY(d.tags)" if attribute == "tags" else f"d.{attribute} = {placeholder}")
    # The rank: the tier of the match, then where each form is found (title A, other fields B,
    # derived forms D).
    rank = rank_sql(query, type_, visible, params) if ranked else "0"
    exact = None
    if ranked and query.whole and TITLE_FIELD[type_] in visible:
        exact = params.add(_quote(f"{TITLE_FIELD[type_]}|{query.whole}"))
    return Branch(type_, tsquery, " AND ".join(conditions), rank, exact)


def _order(ranked: bool, alias: str) -> str:
    return (f"{alias}.rank DESC, " if ranked else "") + f"{alias}.updated_at DESC NULLS LAST, {alias}.id"


class PostgresEngine:
    name = "postgres"

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def apply(self, unit: Unit, docs: Sequence[Document], *, replay: bool = False,
                    background: bool = False) -> int:
        if not background:
            # A live write never merges a GIN pending list (0.6 s at a million customers): the
            # background merge does (migration 0003, ``merge_pending_entries`` in engines/__init__.py).
            await unit.execute("SELECT set_config('gin_pending_list_limit', $1, true)", MAX_PENDING_LIST_KB)
        return len(await upsert_documents(unit, docs, replay=replay, with_text=True))

    async def sweep(self, unit: Unit, before: datetime) -> int:
        return len(await stale_documents(unit, before))

    async def set_attachments(self, unit: Unit, type_: str, record_id: uuid.UUID, names: Sequence[str]) -> bool:
        await unit.execute("SELECT set_config('gin_pending_list_limit', $1, true)", MAX_PENDING_LIST_KB)
        return await set_attachment_names(unit, type_, record_id, names)

    async def purge_tenant(self, tenant_id: uuid.UUID) -> int:
        return 0  # its documents are rows of search.documents: the tenant purge deletes them

    async def search(self, unit: Unit, request: SearchRequest) -> EngineResult:
        # For this transaction: plan with the values each time (a generic plan cannot tell a rare
        # word from a frequent one); never read a whole table (its estimate leaves out the TOASTed
        # lexemes each row loads, and every statement here has an index that fits); the
        # similarity from which a vocabulary word is a typo candidate.
        # No parallel workers either: starting them cost 40-50 ms on a busy machine for branches
        # that read a few dozen rows. No plain index scans: for a word with many matches (or none
        # in a type) the planner walked the primary key (or updated_at) in order, testing the text
        # match on each row until LIMIT was reached, since its estimate leaves out reading each
        # row's TOASTed lexemes: 150 ms for a frequent word, 11 s for a word absent from the
        # customers of a tenant of 300,000 (issue 18). Bitmap scans take the matches from the GIN
        # index; a lookup by primary key is a bitmap scan of one row. 16 MB of work memory keeps
        # the bitmap of a frequent word's 200,000 matches exact (at 4 MB it went lossy, and every
        # row of each page was checked again).
        await unit.execute(
            """SELECT set_config('plan_cache_mode', 'force_custom_plan', true), set_config('enable_seqscan', 'off', true),
                      set_config('enable_indexscan', 'off', true), set_config('enable_indexonlyscan', 'off', true),
                      set_config('work_mem', '16MB', true),
                      set_config('max_parallel_workers_per_gather', '0', true),
                      set_config('pg_trgm.similarity_threshold', $1, true)""", str(TYPO_SIMILARITY))
        query = await expand_typos(unit, request.query)
        params = Params(unit.tenant_id)
        ranked = request.sort == "relevance"
        branches = [b for t in request.types if (b := _branch(query, request, t, params, ranked)) is not None]
        if not branches:
            return EngineResult([], 0, {f: {} for f in request.facets})
        if ranked:
            # Every match counted (up to MATCH_CAP per type), the first RANK_CAP per type ranked,
            # and the exact titles wherever they are; a document found twice counts once.
            matched = " UNION ALL ".join(b.ranked() for b in branches)
            exact = [lane for b in branches if (lane := b.exact_lane()) is not None]
            pool = (f"""SELECT DISTINCT ON (type, id) * FROM (SELECT * FROM matched UNION ALL {" UNION ALL ".join(exact)}) x
                       ORDER BY type, id, rank DESC""" if exact else "SELECT * FROM matched")
            candidates = f"""matched AS ({matched}),
                     candidates AS ({pool}),
                     counted AS (SELECT count(*) AS total FROM matched)"""
        else:
            matched = " UNION ALL ".join(b.select("d.type, d.id, d.updated_at", newest=True) for b in branches)
            candidates = f"""candidates AS ({matched}),
                     counted AS (SELECT count(*) AS total FROM candidates)"""
        # Only the page's documents are read whole (fields, the customer's title).
        rows = await unit.fetch(
            f"""WITH {candidates},
                     page AS (SELECT *, (SELECT total FROM counted) AS total FROM candidates
                              ORDER BY {_order(ranked, "candidates")} LIMIT {int(request.limit)})
                SELECT d.type, d.id, d.version, d.title, d.fields, d.customer_id, d.owner_id, d.lifecycle_stage,
                       d.tier, d.tags, d.status, d.updated_at, c.title AS customer_title, p.rank, p.total
                FROM page p
                JOIN search.documents d ON d.tenant_id = $1 AND d.type = p.type AND d.id = p.id
                LEFT JOIN search.documents c
                  ON c.tenant_id = $1 AND c.type = 'customer' AND c.id = d.customer_id AND d.type <> 'customer'
                ORDER BY {_order(ranked, "p")}""",
            *params.values,
        )
        hits = [RawHit(
            type=r["type"], id=r["id"], version=r["version"], title=r["title"], fields=r["fields"],
            customer_id=r["customer_id"], customer_title=r["customer_title"], owner_id=r["owner_id"],
            lifecycle_stage=r["lifecycle_stage"], tier=r["tier"], tags=list(r["tags"]), status=r["status"],
            updated_at=r["updated_at"], score=float(r["rank"]),
        ) for r in rows]
        total = rows[0]["total"] if rows else 0
        facets = await self._facets(unit, request, query) if request.facets else {}
        return EngineResult(hits, total, facets)

    async def _facets(self, unit: Unit, request: SearchRequest, query: text.ParsedQuery
                      ) -> dict[str, dict[str, int]]:
        params = Params(unit.tenant_id)
        branches = [b for t in request.types if (b := _branch(query, request, t, params, False)) is not None]
        columns = "d.type, d.owner_id, d.lifecycle_stage, d.tier, d.tags, d.status"
        matched = " UNION ALL ".join(b.select(columns) for b in branches)
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
