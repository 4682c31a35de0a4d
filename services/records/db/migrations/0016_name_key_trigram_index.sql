-- The fuzzy duplicate check (db/duplicates.py matches) reads match_keys_name_trgm with `key % $name`.
-- That index led with tenant_id (btree_gin): a GIN index has one posting list per tenant, and the
-- big tenant's list holds every one of its name keys (1.38 M at 1,000,000 customers), which each
-- lookup had to walk and intersect with the name's trigrams: 11-31 ms of GIN scan for 14
-- candidates (EXPLAIN ANALYZE, BUFFERS). On the trigrams alone the same lookup reads 54 index
-- pages in 0.7-4.5 ms; the tenant is still checked on every row the index answers (the query's
-- `tenant_id = $1` and row-level security), other tenants' keys only cost a recheck.
DROP INDEX IF EXISTS records.match_keys_name_trgm;
CREATE INDEX match_keys_name_trgm ON records.match_keys USING gin (key gin_trgm_ops) WHERE kind = 'name';
