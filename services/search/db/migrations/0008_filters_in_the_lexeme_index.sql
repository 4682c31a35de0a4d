-- Search filters answered by the lexeme index (issue 18; services/search/README.md, "Performance").
--
-- The GIN index of the text match held (tenant_id, type, owner_id, lexemes): the owner filter and
-- the "own" data scope were answered with the text match, every other filter (lifecycle_stage,
-- tier, status) and the department scope only after it, so a frequent word with a rare stage read
-- every match of the word (up to all of them when fewer than a page pass the filter). btree_gin
-- keys of those columns in the same index let the scan intersect the word's postings with the
-- filter's. Their operators (text and uuid equality) are LEAKPROOF, so row-level security lets the
-- index answer them. Tags stay out: array containment is not LEAKPROOF (its own GIN index,
-- documents_tags, and a check after the match).
-- The rebuild reads every live document once (minutes at a million documents; writes wait):
-- more sort memory than the default 64 MB for this one transaction.
SET LOCAL maintenance_work_mem = '256MB';
DROP INDEX search.documents_lexemes;
CREATE INDEX documents_lexemes ON search.documents
  USING gin (tenant_id, type, owner_id, department_id, lifecycle_stage, tier, status, lexemes) WHERE NOT deleted;
