-- GIN indexes take new entries into a "pending list" and merge it into the index in one go once
-- it passes gin_pending_list_limit (4 MB): the insert that passes it does the merge. At a million
-- customers that merge took 0.6 s, every ~20 s at 20 writes/s and several times a second during
-- an import, and it fell on whichever insert came next: often a person's record, which then took
-- seconds to become searchable. Live writes now never merge (the engine raises the limit in their
-- transactions) and this function, run every second by the search service on its background pool
-- (niceness 10), merges the pending lists of the search schema's GIN indexes. A merge already in
-- progress makes an insert skip its own. gin_clean_pending_list needs the index's owner: hence
-- SECURITY DEFINER, with no arguments and a fixed search_path.
CREATE FUNCTION search.merge_pending_index_entries() RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce(sum(gin_clean_pending_list(c.oid)), 0)::bigint
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_am a ON a.oid = c.relam
  WHERE n.nspname = 'search' AND c.relkind = 'i' AND a.amname = 'gin'
$$;
REVOKE ALL ON FUNCTION search.merge_pending_index_entries() FROM PUBLIC;
