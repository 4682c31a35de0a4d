"""What keeps the PostgreSQL engine fast on a big tenant (services/search/README.md, Performance notes)."""

from __future__ import annotations


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
