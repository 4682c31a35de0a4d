-- Faster PostgreSQL search (services/search/README.md, "Performance notes").
--
-- 1. Bare lexemes. Besides "<field>|<lexeme>", each document now holds every lexeme once more
--    without its field (no position, no weight): a caller who may see every field of a type asks
--    for one index entry per query form instead of one per form and field (33 for a phone
--    number), which the planner answers from the GIN index. Existing documents get theirs here.
--    The owner is subject to the forced row-level security like everyone, so the policy is lifted
--    for this one statement inside the migration's transaction and forced again right after.
ALTER TABLE search.documents NO FORCE ROW LEVEL SECURITY;
DROP INDEX search.documents_lexemes;  -- rebuilt below: faster than updating it row by row
UPDATE search.documents
SET lexemes = lexemes || array_to_tsvector(ARRAY(
  SELECT DISTINCT substr(l, strpos(l, '|') + 1) FROM unnest(tsvector_to_array(lexemes)) l
  WHERE strpos(l, '|') > 0 AND length(l) > strpos(l, '|')))
WHERE lexemes IS NOT NULL;
ALTER TABLE search.documents FORCE ROW LEVEL SECURITY;

-- The GIN index leads with tenant_id and type (btree_gin): each type's branch of a search asks
-- for its own type's postings, so a word frequent in interactions costs a customer search nothing;
-- owner_id too, so the owner filter and the "own" data scope are answered by the index as well.
CREATE INDEX documents_lexemes ON search.documents USING gin (tenant_id, type, owner_id, lexemes) WHERE NOT deleted;

-- 2. Row-level security lets an index answer only a condition whose operator is LEAKPROOF (it
--    could otherwise see rows of other tenants before the policy filters them). The text match
--    (tsvector @@ tsquery) and pg_trgm's similarity (%) are not marked so by PostgreSQL, although
--    they raise no error and have no side effect that depends on a row's value, so under RLS
--    every search read each of the tenant's documents and every typo lookup the whole
--    vocabulary. Marking them takes a superuser: done here when the migrating role is one (the
--    embedded default); otherwise the service logs at start how a superuser does it once.
DO $$
BEGIN
  IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    ALTER FUNCTION pg_catalog.ts_match_vq(tsvector, tsquery) LEAKPROOF;
    EXECUTE format('ALTER FUNCTION %s LEAKPROOF',
                   (SELECT p.oid::regprocedure FROM pg_proc p JOIN pg_depend dep ON dep.objid = p.oid
                    JOIN pg_extension e ON e.oid = dep.refobjid
                    WHERE e.extname = 'pg_trgm' AND p.proname = 'similarity_op'));
  END IF;
END $$;
