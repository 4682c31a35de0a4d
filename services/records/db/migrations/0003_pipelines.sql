-- Pipelines, their ordered stages, opportunities (商机) and the history of their stage moves.

CREATE TABLE records.pipelines (
  tenant_id   uuid NOT NULL,
  id          uuid NOT NULL,
  name        text NOT NULL,
  is_default  boolean NOT NULL DEFAULT false,
  version     integer NOT NULL DEFAULT 1,   -- bumped by every change of the pipeline or its stages
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  created_by  uuid,
  updated_by  uuid,
  PRIMARY KEY (tenant_id, id)
);
SELECT huike.enable_tenant_rls('records.pipelines');
CREATE UNIQUE INDEX pipelines_name ON records.pipelines (tenant_id, lower(name));
-- At most one default pipeline per tenant; also what makes its lazy creation race-free.
CREATE UNIQUE INDEX pipelines_default ON records.pipelines (tenant_id) WHERE is_default;
CREATE INDEX pipelines_created ON records.pipelines (tenant_id, created_at, id);

CREATE TABLE records.pipeline_stages (
  tenant_id        uuid NOT NULL,
  id               uuid NOT NULL,
  pipeline_id      uuid NOT NULL,
  name             text NOT NULL,
  position         integer NOT NULL,        -- 1..n within the pipeline
  probability      smallint NOT NULL CHECK (probability BETWEEN 0 AND 100),
  kind             text NOT NULL DEFAULT 'open' CHECK (kind IN ('open', 'won', 'lost')),
  -- opportunity fields that must be filled before an opportunity may enter this stage
  required_fields  text[] NOT NULL DEFAULT '{}',
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  -- lets opportunities reference (pipeline, stage) together, so a stage of another pipeline cannot be stored
  UNIQUE (tenant_id, pipeline_id, id),
  -- deferred: a reorder rewrites every position in one statement
  CONSTRAINT pipeline_stages_position UNIQUE (tenant_id, pipeline_id, position) DEFERRABLE INITIALLY DEFERRED,
  FOREIGN KEY (tenant_id, pipeline_id) REFERENCES records.pipelines (tenant_id, id) ON DELETE CASCADE
);
SELECT huike.enable_tenant_rls('records.pipeline_stages');
CREATE UNIQUE INDEX pipeline_stages_name ON records.pipeline_stages (tenant_id, pipeline_id, lower(name));

CREATE TABLE records.opportunities (
  tenant_id            uuid NOT NULL,
  id                   uuid NOT NULL,
  version              integer NOT NULL DEFAULT 1,
  created_at           timestamptz NOT NULL DEFAULT now(),
  updated_at           timestamptz NOT NULL DEFAULT now(),
  created_by           uuid,
  updated_by           uuid,
  deleted_at           timestamptz,
  owner_id             uuid,
  department_id        uuid,
  customer_id          uuid NOT NULL,
  name                 text NOT NULL,
  pipeline_id          uuid NOT NULL,
  stage_id             uuid NOT NULL,
  -- the kind of the current stage, kept here so status filters and reports need no join
  status               text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'won', 'lost')),
  amount               numeric(18, 2) CHECK (amount >= 0),
  currency             char(3) CHECK (currency ~ '^[A-Z]{3}$'),
  expected_close_date  date,
  -- set only when the client overrides it; NULL follows the stage's probability, even as that changes
  probability          smallint CHECK (probability BETWEEN 0 AND 100),
  won_reason           text,
  lost_reason          text,
  closed_at            timestamptz,
  stage_entered_at     timestamptz NOT NULL DEFAULT now(),
  description          text,
  custom_fields        jsonb NOT NULL DEFAULT '{}',
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, customer_id) REFERENCES records.customers (tenant_id, id) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, pipeline_id, stage_id) REFERENCES records.pipeline_stages (tenant_id, pipeline_id, id),
  CHECK (status <> 'lost' OR lost_reason IS NOT NULL),
  CHECK ((status = 'open') = (closed_at IS NULL))
);
SELECT huike.enable_tenant_rls('records.opportunities');
-- Lists: one index per sort (keyset on (<sort>, id)); nullable sort keys sort last via infinity.
CREATE INDEX opportunities_created ON records.opportunities (tenant_id, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX opportunities_updated ON records.opportunities (tenant_id, updated_at, id) WHERE deleted_at IS NULL;
CREATE INDEX opportunities_name ON records.opportunities (tenant_id, name, id) WHERE deleted_at IS NULL;
CREATE INDEX opportunities_close_date ON records.opportunities
  (tenant_id, coalesce(expected_close_date, 'infinity'::date), id) WHERE deleted_at IS NULL;
CREATE INDEX opportunities_amount ON records.opportunities
  (tenant_id, coalesce(amount, 'Infinity'::numeric), id) WHERE deleted_at IS NULL;
-- Filters.
CREATE INDEX opportunities_customer ON records.opportunities (tenant_id, customer_id, created_at) WHERE deleted_at IS NULL;
CREATE INDEX opportunities_owner ON records.opportunities (tenant_id, owner_id, created_at) WHERE deleted_at IS NULL;
CREATE INDEX opportunities_department ON records.opportunities (tenant_id, department_id) WHERE deleted_at IS NULL;
CREATE INDEX opportunities_stage ON records.opportunities (tenant_id, pipeline_id, stage_id) WHERE deleted_at IS NULL;
CREATE INDEX opportunities_status ON records.opportunities (tenant_id, status, expected_close_date) WHERE deleted_at IS NULL;
-- Restore window and purge.
CREATE INDEX opportunities_deleted ON records.opportunities (tenant_id, deleted_at) WHERE deleted_at IS NOT NULL;
-- A stage's opportunities, deleted ones included (they still hold the stage until purged).
CREATE INDEX opportunities_stage_all ON records.opportunities (tenant_id, stage_id);

CREATE TABLE records.opportunity_stage_history (
  tenant_id       uuid NOT NULL,
  id              uuid NOT NULL,
  opportunity_id  uuid NOT NULL,
  -- the opportunity's customer, so the customer timeline reads this table by index alone
  customer_id     uuid NOT NULL,
  pipeline_id     uuid NOT NULL,
  from_stage_id   uuid,                    -- NULL for the stage an opportunity was created in
  from_stage_name text,
  to_stage_id     uuid NOT NULL,
  to_stage_name   text NOT NULL,
  to_status       text NOT NULL CHECK (to_status IN ('open', 'won', 'lost')),
  at              timestamptz NOT NULL DEFAULT now(),
  changed_by      uuid,
  amount          numeric(18, 2),          -- the amount at that moment
  currency        char(3),
  probability     smallint NOT NULL,       -- the effective probability at that moment
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, opportunity_id) REFERENCES records.opportunities (tenant_id, id) ON DELETE CASCADE
);
SELECT huike.enable_tenant_rls('records.opportunity_stage_history');
CREATE INDEX opportunity_stage_history_opportunity ON records.opportunity_stage_history (tenant_id, opportunity_id, at, id);
CREATE INDEX opportunity_stage_history_customer ON records.opportunity_stage_history (tenant_id, customer_id, at DESC, id DESC);

-- The customer timeline (db/timeline.py) reads tasks newest-created first per customer.
CREATE INDEX tasks_customer_created ON records.tasks (tenant_id, customer_id, created_at, id) WHERE deleted_at IS NULL;
-- The report of customers left without an interaction (db/reports.py): never contacted ones count from creation.
CREATE INDEX customers_unattended ON records.customers
  (tenant_id, (coalesce(last_interaction_at, created_at)), id) WHERE deleted_at IS NULL;
