-- Data quality: duplicate matching keys and rules, duplicate scans, merges (with undo), ownership
-- handovers and the public pool (公海). Tenant first in every key and index, forced RLS.

-- pg_trgm: fuzzy company names (similarity / %); btree_gin lets the trigram index lead with tenant_id.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS btree_gin;

-- Normalised keys a record is matched on (domain/duplicates.py writes them when the record is
-- written): kind phone / email (E.164, lower-case), uscc, name (company name or alias without
-- legal suffix, city prefix, width, case and spacing). Rows stay while the record exists, soft
-- deleted or merged included, so a returning customer is recognised.
CREATE TABLE records.match_keys (
  tenant_id uuid NOT NULL,
  entity    text NOT NULL CHECK (entity IN ('customer', 'contact')),
  record_id uuid NOT NULL,
  kind      text NOT NULL CHECK (kind IN ('phone', 'email', 'uscc', 'name')),
  key       text NOT NULL,
  PRIMARY KEY (tenant_id, entity, record_id, kind, key)
);
SELECT huike.enable_tenant_rls('records.match_keys');
CREATE INDEX match_keys_exact ON records.match_keys (tenant_id, entity, kind, key);
CREATE INDEX match_keys_name_trgm ON records.match_keys USING gin (tenant_id, key gin_trgm_ops) WHERE kind = 'name';

-- Duplicate rules of a tenant, one row per version (the highest is in force).
CREATE TABLE records.duplicate_rules (
  tenant_id  uuid NOT NULL,
  version    integer NOT NULL,
  rules      jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  created_by uuid,
  PRIMARY KEY (tenant_id, version)
);
SELECT huike.enable_tenant_rls('records.duplicate_rules');

-- Background scans for duplicate groups across a tenant's customers.
CREATE TABLE records.duplicate_scans (
  tenant_id   uuid NOT NULL,
  id          uuid NOT NULL,
  status      text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
  total       integer NOT NULL DEFAULT 0,
  done        integer NOT NULL DEFAULT 0,
  groups      jsonb NOT NULL DEFAULT '[]',
  error       text,
  created_by  uuid,
  created_at  timestamptz NOT NULL DEFAULT now(),
  started_at  timestamptz,
  finished_at timestamptz,
  PRIMARY KEY (tenant_id, id)
);
SELECT huike.enable_tenant_rls('records.duplicate_scans');
CREATE INDEX duplicate_scans_created ON records.duplicate_scans (tenant_id, created_at DESC, id);
CREATE INDEX duplicate_scans_pending ON records.duplicate_scans (tenant_id, created_at) WHERE status IN ('queued', 'running');

-- Merged customers: soft-deleted with merged_into = the survivor (their id resolves to it).
ALTER TABLE records.customers
  ADD COLUMN merged_into uuid,
  -- when the current owner got the customer (pool rules count from here); NULL: since created_at
  ADD COLUMN owner_since timestamptz,
  -- in the public pool since (owner_id IS NULL)
  ADD COLUMN pool_since timestamptz;
CREATE INDEX customers_pool ON records.customers (tenant_id, pool_since, id) WHERE owner_id IS NULL AND deleted_at IS NULL;

-- Every merge, with what undo needs: the survivor before, the moved children, the merged records.
CREATE TABLE records.merges (
  tenant_id       uuid NOT NULL,
  id              uuid NOT NULL,
  survivor_id     uuid NOT NULL,
  merged_ids      uuid[] NOT NULL,
  survivor_before jsonb NOT NULL,
  fields          jsonb NOT NULL DEFAULT '{}',
  moved           jsonb NOT NULL DEFAULT '{}',   -- {"interaction": [ids], "contact": [ids], ...}
  merged_by       uuid,
  merged_at       timestamptz NOT NULL DEFAULT now(),
  undone_at       timestamptz,
  undone_by       uuid,
  PRIMARY KEY (tenant_id, id)
);
SELECT huike.enable_tenant_rls('records.merges');
CREATE INDEX merges_survivor ON records.merges (tenant_id, survivor_id, merged_at DESC);
CREATE INDEX merges_merged ON records.merges USING gin (tenant_id, merged_ids) WHERE undone_at IS NULL;

-- Handovers (离职交接) and transfers: what moved from whom to whom.
CREATE TABLE records.handovers (
  tenant_id    uuid NOT NULL,
  id           uuid NOT NULL,
  kind         text NOT NULL CHECK (kind IN ('handover', 'transfer')),
  from_user_id uuid,
  to_user_id   uuid,                 -- NULL: to the public pool
  trigger      text NOT NULL CHECK (trigger IN ('api', 'user_deactivated')),
  report       jsonb NOT NULL,       -- {"customers": n, "tasks": n, "objections": n, "opportunities": n, ...}
  created_by   uuid,
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);
SELECT huike.enable_tenant_rls('records.handovers');
CREATE INDEX handovers_created ON records.handovers (tenant_id, created_at DESC, id);
CREATE INDEX handovers_from ON records.handovers (tenant_id, from_user_id, created_at DESC);

-- Public pool rules, one row per version (the highest is in force).
CREATE TABLE records.pool_rules (
  tenant_id  uuid NOT NULL,
  version    integer NOT NULL,
  rules      jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  created_by uuid,
  PRIMARY KEY (tenant_id, version)
);
SELECT huike.enable_tenant_rls('records.pool_rules');

-- Every claim, return, release and warning of the public pool.
CREATE TABLE records.pool_log (
  tenant_id    uuid NOT NULL,
  id           bigint GENERATED ALWAYS AS IDENTITY,
  customer_id  uuid NOT NULL,
  action       text NOT NULL CHECK (action IN ('claimed', 'returned', 'released', 'warned', 'assigned')),
  user_id      uuid,                 -- the claimer, or the owner the customer left / was warned
  actor_id     text,
  reason       text,
  rule_version integer,
  at           timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);
SELECT huike.enable_tenant_rls('records.pool_log');
CREATE INDEX pool_log_customer ON records.pool_log (tenant_id, customer_id, at DESC, id DESC);
CREATE INDEX pool_log_user ON records.pool_log (tenant_id, user_id, action, at DESC);
CREATE INDEX pool_log_time ON records.pool_log (tenant_id, at DESC, id DESC);
