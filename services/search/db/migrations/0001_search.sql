-- The search service's own schema: the PostgreSQL engine's documents (also the version ledger of
-- every engine), the typo vocabulary, the department mirror, reindex runs. Every tenant-owned
-- table: tenant_id first in the primary key and every index, forced row-level security.

-- Trusted extensions (PostgreSQL 13+): the database owner may create them. pg_trgm finds the
-- vocabulary words a mistyped query word may mean; btree_gin lets GIN indexes lead with tenant_id.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS btree_gin;

-- Tenants this service has indexed: walked by the reconciliation job. Ids only, no RLS.
CREATE TABLE search.tenants (
  id         uuid PRIMARY KEY,
  first_seen timestamptz NOT NULL DEFAULT now()
);

-- One row per record of a searchable type. A deleted record stays as a tombstone (deleted = true,
-- no text) so that an older event arriving late cannot bring it back; tombstones are purged later.
CREATE TABLE search.documents (
  tenant_id       uuid        NOT NULL,
  type            text        NOT NULL,
  id              uuid        NOT NULL,
  version         integer     NOT NULL,
  deleted         boolean     NOT NULL DEFAULT false,
  customer_id     uuid,
  owner_id        uuid,
  department_id   uuid,
  assignee_id     uuid,
  lifecycle_stage text,
  tier            text,
  tags            text[]      NOT NULL DEFAULT '{}',
  status          text,
  title           text        NOT NULL DEFAULT '',
  fields          jsonb       NOT NULL DEFAULT '{}',   -- display text per searchable field
  -- Lexemes "<field>|<lexeme>" (services/search/text.py), weighted: title A, other fields B,
  -- derived forms (pinyin, bigrams) D. NULL when another engine serves the queries.
  lexemes         tsvector,
  updated_at      timestamptz,
  indexed_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, type, id)
);
SELECT huike.enable_tenant_rls('search.documents');
CREATE INDEX documents_lexemes ON search.documents USING gin (tenant_id, lexemes) WHERE NOT deleted;
CREATE INDEX documents_recent ON search.documents (tenant_id, updated_at DESC, id) WHERE NOT deleted;
CREATE INDEX documents_owner ON search.documents (tenant_id, owner_id) WHERE NOT deleted;
CREATE INDEX documents_department ON search.documents (tenant_id, department_id) WHERE NOT deleted;
CREATE INDEX documents_stage ON search.documents (tenant_id, lifecycle_stage) WHERE NOT deleted;
CREATE INDEX documents_tier ON search.documents (tenant_id, tier) WHERE NOT deleted;
CREATE INDEX documents_status ON search.documents (tenant_id, status) WHERE NOT deleted;
CREATE INDEX documents_tags ON search.documents USING gin (tenant_id, tags) WHERE NOT deleted;
CREATE INDEX documents_customer ON search.documents (tenant_id, customer_id) WHERE NOT deleted;
-- The sweep after a reindex and the purge of old tombstones.
CREATE INDEX documents_indexed ON search.documents (tenant_id, indexed_at);

-- The Meilisearch engine's version ledger: the same rows without text (fields, lexemes stay empty),
-- so ordering, tombstones, the reindex sweep and reconciliation work the same for both engines.
CREATE TABLE search.meili_ledger (LIKE search.documents INCLUDING DEFAULTS, PRIMARY KEY (tenant_id, type, id));
SELECT huike.enable_tenant_rls('search.meili_ledger');
CREATE INDEX meili_ledger_customer ON search.meili_ledger (tenant_id, customer_id) WHERE NOT deleted;
CREATE INDEX meili_ledger_indexed ON search.meili_ledger (tenant_id, indexed_at);

-- Latin words of the tenant's documents, for typo tolerance: a mistyped query word also looks
-- for the words within its typo budget. Only ever used to widen a query, never shown.
CREATE TABLE search.terms (
  tenant_id uuid NOT NULL,
  term      text NOT NULL,
  PRIMARY KEY (tenant_id, term)
);
SELECT huike.enable_tenant_rls('search.terms');
CREATE INDEX terms_trigram ON search.terms USING gin (tenant_id, term gin_trgm_ops);

-- Mirror of identity's departments (for the "department" data scope), kept from identity events.
CREATE TABLE search.departments (
  tenant_id  uuid NOT NULL,
  id         uuid NOT NULL,
  parent_id  uuid,
  path       text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);
SELECT huike.enable_tenant_rls('search.departments');
CREATE INDEX departments_path ON search.departments (tenant_id, path text_pattern_ops);

-- Full reindexes of a tenant (admin endpoint, operator command, reconciliation).
CREATE TABLE search.reindex_runs (
  tenant_id    uuid        NOT NULL,
  id           uuid        NOT NULL,
  reason       text        NOT NULL,
  status       text        NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'failed')),
  started_at   timestamptz NOT NULL DEFAULT now(),
  finished_at  timestamptz,
  records      integer     NOT NULL DEFAULT 0,
  swept        integer     NOT NULL DEFAULT 0,
  error        text,
  PRIMARY KEY (tenant_id, id)
);
SELECT huike.enable_tenant_rls('search.reindex_runs');
CREATE INDEX reindex_runs_started ON search.reindex_runs (tenant_id, started_at DESC);
CREATE UNIQUE INDEX reindex_runs_one_running ON search.reindex_runs (tenant_id) WHERE status = 'running';
