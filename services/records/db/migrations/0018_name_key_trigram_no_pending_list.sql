-- The fuzzy duplicate check reads match_keys_name_trgm on every create, update and check, and every
-- create writes name keys to it. With GIN's fastupdate (the default) those keys go to the index's
-- pending list, which every lookup reads in full until autovacuum or an insert that overflows
-- gin_pending_list_limit (4 MB, ~20,000 keys) empties it. Measured at 300,000 customers (413,382
-- name keys), EXPLAIN (ANALYZE, BUFFERS): after 3,000 keys written one create at a time, a name
-- lookup took p50 20.4 ms, 162 buffers (70 pending pages); with an empty list 1.3 ms, 91 buffers.
-- Turning fastupdate off empties the list for good but doubles the cost of bulk key writes
-- (20,000 keys in batches of 1,000: 13-16 s instead of 5.5-9 s), which imports pay. So the list
-- stays, and records merges the pending lists of its GIN indexes every second on its background
-- pool (as search does, its migration 0003): lookups find it nearly empty, imports keep writing in
-- bulk. GiST (gist_trgm_ops, siglen 12 or 64) was measured too: it read 3,000-3,600 buffers per
-- lookup (p50 270-330 ms) against GIN's 89: GIN stays.
-- gin_clean_pending_list needs the index's owner: hence SECURITY DEFINER, no arguments, a fixed
-- search_path.
CREATE FUNCTION records.merge_pending_index_entries() RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce(sum(gin_clean_pending_list(c.oid)), 0)::bigint
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_am a ON a.oid = c.relam
  WHERE n.nspname = 'records' AND c.relkind = 'i' AND a.amname = 'gin'
$$;
REVOKE ALL ON FUNCTION records.merge_pending_index_entries() FROM PUBLIC;
