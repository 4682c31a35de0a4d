-- Which text analysis (services/search/text.py, ANALYSIS_VERSION) built each tenant's documents.
-- Issue 19 changed what documents hold (character-pair sounds, simplified characters, phone
-- tails, derived short names): a tenant indexed before is rebuilt by a background reindex that
-- the reconciliation starts (services/search/reindex.py), which then records the version. Tenants
-- already here start at 0 (every one is reindexed once); a tenant first indexed by the new
-- analysis gets its version when its first document is written.
ALTER TABLE search.tenants ADD COLUMN analysis integer NOT NULL DEFAULT 0;
