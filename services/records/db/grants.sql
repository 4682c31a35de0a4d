-- Applied after every migration run. The audit log is append-only for the runtime role.
REVOKE UPDATE, DELETE, TRUNCATE ON records.audit_log FROM {app_role};
-- A bulk import may grow a tenant's customers and match keys by orders of magnitude in minutes,
-- long before autovacuum's table-wide threshold notices: the planner, believing the tenant holds a
-- handful of rows, then answers every fuzzy duplicate check by reading all of the tenant's name
-- keys (seconds per create while the import runs). The import worker ANALYZEs these tables as it
-- goes (domain/imports.py), which needs the MAINTAIN privilege (PostgreSQL 17; before it, ANALYZE
-- by a non-owner is skipped with a warning and autovacuum alone keeps the statistics).
DO $$
BEGIN
  IF current_setting('server_version_num')::int >= 170000 THEN
    EXECUTE 'GRANT MAINTAIN ON records.customers, records.contacts, records.match_keys TO {app_role}';
  END IF;
END $$;
-- The background merge of GIN pending lists (migration 0018).
GRANT EXECUTE ON FUNCTION records.merge_pending_index_entries() TO {app_role};
