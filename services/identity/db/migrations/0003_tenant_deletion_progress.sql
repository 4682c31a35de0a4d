-- A deletion's progress, for the operator: what each service reported when it had exported and
-- purged the tenant ({"identity": {...}, "records": {...}, "search": {...}, "streams": {...}}), and
-- when nothing of the tenant was left (every service done, its event stream messages purged).
ALTER TABLE identity.tenants ADD COLUMN deletion_progress jsonb NOT NULL DEFAULT '{}';
ALTER TABLE identity.tenants ADD COLUMN deletion_completed_at timestamptz;
-- The deletion worker's question, every few seconds: which deletions are still under way?
CREATE INDEX tenants_deletions_open ON identity.tenants (id) WHERE status = 'deleted' AND deletion_completed_at IS NULL;
