-- Platform objects every service schema relies on. Idempotent: applied before each migration run.
CREATE SCHEMA IF NOT EXISTS huike;
GRANT USAGE ON SCHEMA huike TO PUBLIC;

-- The tenant of the current transaction. NULLIF: a pooled connection that has once seen the
-- setting reads it back as '' (not NULL) after the transaction ends; a bare ::uuid would fail.
-- STABLE so the planner evaluates it once per query and keeps tenant_id index scans.
CREATE OR REPLACE FUNCTION huike.current_tenant() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE AS
$$ SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid $$;

-- Turn on forced row-level security for a tenant-owned table (tenant_id column required).
CREATE OR REPLACE FUNCTION huike.enable_tenant_rls(target regclass) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', target);
  EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', target);
  EXECUTE format('DROP POLICY IF EXISTS tenant_isolation ON %s', target);
  EXECUTE format(
    'CREATE POLICY tenant_isolation ON %s USING (tenant_id = (SELECT huike.current_tenant())) '
    'WITH CHECK (tenant_id = (SELECT huike.current_tenant()))', target);
END $$;

-- A service's file store in PostgreSQL (shared/files.py): a row per file, visible once complete,
-- and its bytes in chunks of about 1 MiB; incomplete files (a writer that died) found by age. The
-- shape of records.files (records' migration 0013, which spells it out); the other services'
-- migrations call this. Both tables under the tenant's row-level security.
CREATE OR REPLACE FUNCTION huike.create_file_tables(target_schema text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format($sql$
    CREATE TABLE %1$I.files (
      tenant_id  uuid        NOT NULL,
      key        text        NOT NULL,
      size       bigint      NOT NULL DEFAULT 0,
      complete   boolean     NOT NULL DEFAULT false,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant_id, key)
    );
    CREATE INDEX files_incomplete ON %1$I.files (tenant_id, created_at) WHERE NOT complete;
    CREATE TABLE %1$I.file_chunks (
      tenant_id uuid    NOT NULL,
      key       text    NOT NULL,
      n         integer NOT NULL,
      data      bytea   NOT NULL,
      PRIMARY KEY (tenant_id, key, n),
      FOREIGN KEY (tenant_id, key) REFERENCES %1$I.files (tenant_id, key) ON DELETE CASCADE
    )$sql$, target_schema);
  PERFORM huike.enable_tenant_rls(format('%I.files', target_schema)::regclass);
  PERFORM huike.enable_tenant_rls(format('%I.file_chunks', target_schema)::regclass);
END $$;

-- Append-only tables (audit logs): no UPDATE or DELETE by anyone, the owner included, except
-- one: the purge of a deleted tenant (shared/tenant_purge.py) deletes that tenant's entries, naming
-- it in huike.purging_tenant. Only a role that may DELETE on the table gets here at all: the runtime
-- role may not (grants.sql), so the setting opens nothing to it.
CREATE OR REPLACE FUNCTION huike.reject_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' AND OLD.tenant_id::text = current_setting('huike.purging_tenant', true) THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION '% is append-only', TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END $$;

-- Wake the outbox relay of a schema when its transaction commits (NOTIFY is transactional).
CREATE OR REPLACE FUNCTION huike.notify_outbox() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('huike_outbox', TG_TABLE_SCHEMA);
  RETURN NULL;
END $$;

-- Readiness: /readyz proves that writes succeed by writing one row per process here (no tenant
-- data; every service's runtime role may write it).
CREATE TABLE IF NOT EXISTS huike.readiness (
  probe text PRIMARY KEY,
  checked_at timestamptz NOT NULL
);
GRANT SELECT, INSERT, UPDATE ON huike.readiness TO PUBLIC;
