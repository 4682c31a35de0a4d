-- Export files and import error reports hold customer data: they are kept for
-- HUIKE_BULK_FILE_RETENTION_DAYS after the job finished, then deleted by the hourly purge job.
-- The job rows stay (who exported what, and when, is audit), marked with when their data went.
ALTER TABLE records.exports ADD COLUMN file_deleted_at timestamptz;
ALTER TABLE records.imports ADD COLUMN errors_deleted_at timestamptz;
CREATE INDEX exports_files_kept ON records.exports (tenant_id, finished_at)
  WHERE file_key IS NOT NULL AND file_deleted_at IS NULL;
CREATE INDEX imports_errors_kept ON records.imports (tenant_id, finished_at)
  WHERE errors_deleted_at IS NULL AND rows_failed > 0;
