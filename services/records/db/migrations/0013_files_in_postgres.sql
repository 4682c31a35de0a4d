-- Bulk files (import uploads, export files) live in PostgreSQL so every replica sees them: an
-- upload stored by one pod is processed by another, an export is downloaded from any
-- (services/records/storage.py). A file is a row plus its bytes in chunks of about 1 MiB, written and
-- read one chunk at a time; readers only see a file once ``complete`` (its last chunk committed).
CREATE TABLE records.files (
  tenant_id  uuid        NOT NULL,
  key        text        NOT NULL,
  size       bigint      NOT NULL DEFAULT 0,
  complete   boolean     NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, key)
);
SELECT huike.enable_tenant_rls('records.files');
-- Writers that died midway leave incomplete files: the hourly purge finds them by age.
CREATE INDEX files_incomplete ON records.files (tenant_id, created_at) WHERE NOT complete;

CREATE TABLE records.file_chunks (
  tenant_id uuid    NOT NULL,
  key       text    NOT NULL,
  n         integer NOT NULL,
  data      bytea   NOT NULL,
  PRIMARY KEY (tenant_id, key, n),
  FOREIGN KEY (tenant_id, key) REFERENCES records.files (tenant_id, key) ON DELETE CASCADE
);
SELECT huike.enable_tenant_rls('records.file_chunks');
