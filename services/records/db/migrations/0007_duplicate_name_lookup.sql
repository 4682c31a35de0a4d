-- The fuzzy duplicate check (domain/duplicates.py, db/duplicates.py matches) finds similar company
-- names with pg_trgm's % operator over match_keys_name_trgm. Under row-level security PostgreSQL
-- lets an index answer only a condition whose function is LEAKPROOF (it would otherwise run on
-- other tenants' rows before the policy filters them), and pg_trgm's similarity_op is not marked
-- so: every create read and compared every name key of its tenant (200,000 customers: 0.7-2 s per
-- create; with the index 10-20 ms). similarity_op raises no error and has no side effect that
-- depends on a row's value, so marking it is safe. It takes a superuser: done here when the
-- migrating role is one (the embedded default); otherwise a superuser runs once
--   ALTER FUNCTION similarity_op(text, text) LEAKPROOF;
-- (the search service's 0002 migration marks the same function; either one is enough).
DO $$
BEGIN
  IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    EXECUTE format('ALTER FUNCTION %s LEAKPROOF',
                   (SELECT p.oid::regprocedure FROM pg_proc p JOIN pg_depend dep ON dep.objid = p.oid
                    JOIN pg_extension e ON e.oid = dep.refobjid
                    WHERE e.extname = 'pg_trgm' AND p.proname = 'similarity_op'));
  END IF;
END $$;
