-- Bulk import and export: jobs, their failed rows, saved column mappings, and the work queue the
-- background workers claim from (services/records/jobs_bulk.py).

-- An import: an uploaded file (in the file store under file_key) and its progress. The worker
-- commits each batch together with rows_done / rows_failed / last_row, so a restart resumes after
-- the last committed batch and never imports a row twice.
CREATE TABLE records.imports (
  tenant_id     uuid NOT NULL,
  id            uuid NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  created_by    uuid,
  principal     jsonb NOT NULL,          -- the caller's permissions when they asked (scope, field rules)
  entity        text NOT NULL CHECK (entity IN ('customer', 'contact')),
  file_key      text NOT NULL,
  file_name     text NOT NULL,
  file_format   text NOT NULL CHECK (file_format IN ('csv', 'xlsx')),
  encoding      text,                    -- csv: utf-8-sig or gb18030
  delimiter     text NOT NULL DEFAULT ',',
  file_bytes    bigint NOT NULL,
  header        jsonb NOT NULL,          -- the file's column names, in order
  mapping       jsonb NOT NULL,          -- {column: field}
  on_duplicate  text NOT NULL CHECK (on_duplicate IN ('skip', 'update', 'create')),
  dry_run       boolean NOT NULL,
  status        text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
  rows_total    integer,
  rows_done     integer NOT NULL DEFAULT 0,
  rows_failed   integer NOT NULL DEFAULT 0,
  rows_created  integer NOT NULL DEFAULT 0,
  rows_updated  integer NOT NULL DEFAULT 0,
  rows_skipped  integer NOT NULL DEFAULT 0,
  last_row      integer NOT NULL DEFAULT 1,   -- the last file row committed (1 = the header: none yet)
  error         text,
  started_at    timestamptz,
  finished_at   timestamptz,
  PRIMARY KEY (tenant_id, id)
);
SELECT huike.enable_tenant_rls('records.imports');
CREATE INDEX imports_created ON records.imports (tenant_id, created_at DESC, id DESC);

-- Rows of an import that failed (or would fail, in a dry run), with the reason.
CREATE TABLE records.import_errors (
  tenant_id  uuid NOT NULL,
  import_id  uuid NOT NULL,
  row_number integer NOT NULL,            -- data row: 1 = the first row after the header
  raw        jsonb NOT NULL,              -- the row's cells as read, in file order
  reason     text NOT NULL,
  PRIMARY KEY (tenant_id, import_id, row_number),
  FOREIGN KEY (tenant_id, import_id) REFERENCES records.imports (tenant_id, id) ON DELETE CASCADE
);
SELECT huike.enable_tenant_rls('records.import_errors');

-- Saved column mappings, reused by name for the next file of the same shape.
CREATE TABLE records.import_mappings (
  tenant_id  uuid NOT NULL,
  id         uuid NOT NULL,
  entity     text NOT NULL,
  name       text NOT NULL,
  mapping    jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  created_by uuid,
  PRIMARY KEY (tenant_id, id)
);
SELECT huike.enable_tenant_rls('records.import_mappings');
CREATE UNIQUE INDEX import_mappings_name ON records.import_mappings (tenant_id, entity, name);

-- An export: the filters it ran with and, once done, its file.
CREATE TABLE records.exports (
  tenant_id    uuid NOT NULL,
  id           uuid NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  created_by   uuid,
  principal    jsonb NOT NULL,
  entity       text NOT NULL,
  format       text NOT NULL CHECK (format IN ('csv', 'xlsx')),
  filters      jsonb NOT NULL DEFAULT '{}',
  status       text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
  rows_done    integer NOT NULL DEFAULT 0,
  file_key     text,
  file_bytes   bigint,
  error        text,
  started_at   timestamptz,
  finished_at  timestamptz,
  PRIMARY KEY (tenant_id, id)
);
SELECT huike.enable_tenant_rls('records.exports');
CREATE INDEX exports_created ON records.exports (tenant_id, created_at DESC, id DESC);

-- The work queue of both kinds of job. Not under RLS (like records.tenants): the workers claim
-- the next job of any tenant, then open that tenant's unit. It holds ids only. A claim is a lease
-- renewed while the worker is alive; a job whose lease ran out is claimed again and resumes. It stays
-- a handful of rows (finished jobs leave it), so it needs no index beyond its key.
CREATE TABLE records.bulk_jobs (
  tenant_id   uuid NOT NULL,
  kind        text NOT NULL CHECK (kind IN ('import', 'export')),
  job_id      uuid NOT NULL,
  queued_at   timestamptz NOT NULL DEFAULT now(),
  lease_until timestamptz NOT NULL DEFAULT '-infinity',
  attempts    integer NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, kind, job_id)
);
