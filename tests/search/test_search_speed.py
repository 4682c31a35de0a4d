"""What keeps the PostgreSQL engine fast on a big tenant (services/search/README.md, Performance notes)."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest


async def test_a_transposition_in_a_six_letter_word_is_a_typo(signup, customer, found) -> None:
    # "plamer" shares 3 of 11 trigrams with "palmer" (0.27): below pg_trgm's default threshold.
    tenant = await signup()
    palmer = await customer(tenant, name="Palmer Logistics")
    hit = await found(tenant, "plamer", palmer["id"])
    assert hit["highlight"]["name"] == "<em>Palmer</em> Logistics"


async def test_text_match_and_typo_lookup_may_be_answered_by_their_indexes(runtime) -> None:
    # Row-level security lets an index answer only a LEAKPROOF operator (others could see rows of
    # other tenants before the policy filters them out). Without these two, every search read all
    # of the tenant's documents (about 1 s at 90,000 documents) and every typo lookup the whole
    # vocabulary; the search migration marks them where it runs as a superuser, as in tests.
    async with runtime.db("search").system_unit() as unit:
        rows = await unit.fetch(
            """SELECT o.oprname, p.proleakproof FROM pg_operator o JOIN pg_proc p ON p.oid = o.oprcode
               WHERE (o.oprname, o.oprleft, o.oprright) IN (('@@', 'tsvector'::regtype, 'tsquery'::regtype),
                                                             ('%', 'text'::regtype, 'text'::regtype))""")
    assert {r["oprname"]: r["proleakproof"] for r in rows} == {"@@": True, "%": True}


async def test_the_search_indexes_pending_entries_are_merged_in_the_background(
        signup, customer, found, infra) -> None:  # noqa: ANN001 - fixtures
    # A GIN index keeps new entries in a pending list until an insert finds it over 4 MB and
    # merges it (0.6 s at a million customers). A person's write must never be that insert: the
    # search service merges the lists every second on its background pool (migration 0003).
    conn = await asyncpg.connect(infra.owner_url)
    try:
        try:
            await conn.execute("CREATE EXTENSION IF NOT EXISTS pageinspect")
        except asyncpg.PostgresError as exc:
            pytest.skip(f"pageinspect is not available to look at the index's pending list: {exc}")

        async def pending() -> int:
            return await conn.fetchval("SELECT n_pending_tuples FROM gin_metapage_info("
                                       "get_raw_page('search.documents_lexemes', 0))")

        tenant = await signup()
        made = [await customer(tenant, name=f"Pending Merge Trading {n}") for n in range(5)]
        await found(tenant, "pending merge trading", made[-1]["id"])
        deadline = asyncio.get_running_loop().time() + 5
        while await pending() and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.2)
        assert await pending() == 0
    finally:
        await conn.close()


async def test_a_frequent_word_ranks_its_first_matches_counts_all_and_still_finds_the_exact_title(
        signup, customer, found, search, monkeypatch) -> None:  # noqa: ANN001 - fixtures
    # Ranking reads every match's lexemes (the cost of a frequent word at a million customers), so
    # only the first RANK_CAP matches of a type in index order are ranked; the others are still
    # counted. The record whose whole name is the query is looked up on its own and comes first
    # even when it is not among them (here the last of five matches, with two ranked).
    from services.search.engines import postgres

    monkeypatch.setattr(postgres, "RANK_CAP", 2)
    tenant = await signup()
    others = [await customer(tenant, name=f"Capstone Trading {n}") for n in range(4)]
    exact = await customer(tenant, name="Capstone")
    await found(tenant, "capstone", exact["id"])
    for other in others:
        await found(tenant, "capstone", other["id"])
    body = (await search(tenant, "capstone", types="customer")).json()
    assert body["total_estimate"] == 5
    assert [h["id"] for h in body["hits"]][0] == exact["id"]
    assert {h["id"] for h in body["hits"]} == {exact["id"], *(o["id"] for o in others)}


async def test_the_filters_and_the_department_scope_are_keys_of_the_lexeme_index(runtime) -> None:
    # Migration 0008: a frequent word with a rare stage, tier or status (or a department-scoped
    # caller) read every match of the word before the filter when only the owner was a key of the
    # text match's GIN index. Each is now a key of it (btree_gin), and its equality operator is
    # LEAKPROOF, so row-level security lets the index answer it together with the text match.
    async with runtime.db("search").system_unit() as unit:
        definition = await unit.fetchval("SELECT pg_get_indexdef('search.documents_lexemes'::regclass)")
        leakproof = await unit.fetch(
            """SELECT t.typname, p.proleakproof FROM pg_operator o JOIN pg_proc p ON p.oid = o.oprcode
               JOIN pg_type t ON t.oid = o.oprleft
               WHERE o.oprname = '=' AND o.oprleft = o.oprright AND t.typname IN ('text', 'uuid')""")
    keys = definition.split("USING gin (", 1)[1].split(")", 1)[0].split(", ")
    assert keys[:2] == ["tenant_id", "type"] and keys[-1] == "lexemes"
    assert {"owner_id", "department_id", "lifecycle_stage", "tier", "status"} <= set(keys)
    assert {r["typname"]: r["proleakproof"] for r in leakproof} == {"text": True, "uuid": True}
