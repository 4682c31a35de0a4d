-- The fuzzy duplicate check reads match_keys_name_trgm on every create, update and check, and every
-- create writes name keys to it. With GIN's fastupdate (the default) those keys go to the index's
-- pending list, which every lookup reads in full until autovacuum/autoanalyze or an insert that
-- overflows gin_pending_list_limit (4 MB, ~20,000 keys; that insert then merges the list while
-- the others wait) empties it. Measured at 300,000 customers (413,382 name keys), EXPLAIN
-- (ANALYZE, BUFFERS): after 3,000 keys written one create at a time, a name lookup took p50
-- 20.4 ms, 162 buffers (70 pending pages); with fastupdate off 1.3 ms, 91 buffers; writing a key
-- cost 7.4 ms instead of 4.5 ms per commit on the same loaded machine, and bulk writes pay most
-- (20,000 keys in batches of 1,000: 13-16 s instead of 5.5-9 s). GiST (gist_trgm_ops,
-- siglen 12 or 64) was measured too: it answers without a heap recheck but read 3,000-3,600
-- buffers per lookup (p50 270-330 ms) against GIN's 89: GIN stays.
ALTER INDEX records.match_keys_name_trgm SET (fastupdate = off);
-- Turning fastupdate off does not flush what is pending already.
SELECT gin_clean_pending_list('records.match_keys_name_trgm'::regclass);
