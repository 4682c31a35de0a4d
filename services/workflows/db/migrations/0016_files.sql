-- workflows's files (shared/files.py), where every replica sees them: its part of a deleted tenant's
-- export (shared/tenant_purge.py, keys <tenant>/tenant-export/workflows/...), written by the purge and
-- kept by it (the operator's copy), not on the pod's data directory, which goes with the pod.
-- The same shape as identity.files (0005): a row plus its bytes in chunks of about 1 MiB, visible
-- once complete. With HUIKE_FILE_STORE=s3 the bytes are objects under workflows/ in the bucket instead.
CREATE TABLE workflows.files (
  tenant_id  uuid        NOT NULL,
  key        text        NOT NULL,
  size       bigint      NOT NULL DEFAULT 0,
  complete   boolean     NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, key)
);
SELECT huike.enable_tenant_rls('workflows.files');
CREATE INDEX files_incomplete ON workflows.files (tenant_id, created_at) WHERE NOT complete;

CREATE TABLE workflows.file_chunks (
  tenant_id uuid    NOT NULL,
  key       text    NOT NULL,
  n         integer NOT NULL,
  data      bytea   NOT NULL,
  PRIMARY KEY (tenant_id, key, n),
  FOREIGN KEY (tenant_id, key) REFERENCES workflows.files (tenant_id, key) ON DELETE CASCADE
);
SELECT huike.enable_tenant_rls('workflows.file_chunks');
