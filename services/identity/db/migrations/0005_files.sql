-- Identity's files (shared/files.py), where every replica sees them: the export of a tenant's
-- identity data written when its deletion is scheduled and again, final, just before the purge
-- (domain/tenants.py). Not the pod's data directory: the replica that wrote it may not be the one
-- an operator asks, and a pod's disk goes with the pod. The same shape as records.files (0013):
-- a row plus its bytes in chunks of about 1 MiB, visible once ``complete``. With HUIKE_FILE_STORE=s3
-- the bytes are objects under ``identity/`` in the bucket instead.
-- The purge of a tenant leaves these rows: the export is what the operator keeps of the tenant.
CREATE TABLE identity.files (
  tenant_id  uuid        NOT NULL,
  key        text        NOT NULL,
  size       bigint      NOT NULL DEFAULT 0,
  complete   boolean     NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, key)
);
SELECT huike.enable_tenant_rls('identity.files');
CREATE INDEX files_incomplete ON identity.files (tenant_id, created_at) WHERE NOT complete;

CREATE TABLE identity.file_chunks (
  tenant_id uuid    NOT NULL,
  key       text    NOT NULL,
  n         integer NOT NULL,
  data      bytea   NOT NULL,
  PRIMARY KEY (tenant_id, key, n),
  FOREIGN KEY (tenant_id, key) REFERENCES identity.files (tenant_id, key) ON DELETE CASCADE
);
SELECT huike.enable_tenant_rls('identity.file_chunks');
