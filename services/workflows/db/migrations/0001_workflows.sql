-- Workflows: automation rules and their versions, runs and their steps, durable timers, the
-- business calendar. Every tenant-owned table: tenant_id first in the primary key and in every
-- index, forced row-level security.

-- A tenant's business calendar; one row, the defaults (China, Asia/Shanghai, 9-12 and 13:30-18 on
-- weekdays) until the tenant saves its own.
CREATE TABLE workflows.calendars (
  tenant_id          uuid PRIMARY KEY,
  time_zone          text    NOT NULL,
  hours              jsonb   NOT NULL,              -- {"mon": [["09:00", "12:00"], ...], ...}
  china_holidays     boolean NOT NULL DEFAULT true,
  closed_days        date[]  NOT NULL DEFAULT '{}',
  extra_working_days date[]  NOT NULL DEFAULT '{}',
  version            integer NOT NULL DEFAULT 1,
  updated_at         timestamptz NOT NULL DEFAULT now(),
  updated_by         uuid
);
SELECT huike.enable_tenant_rls('workflows.calendars');

-- A workflow: its current definition; every saved definition is also kept in workflow_versions,
-- and a run points at the version it ran.
CREATE TABLE workflows.workflows (
  tenant_id      uuid        NOT NULL,
  id             uuid        NOT NULL,
  name           text        NOT NULL,
  description    text,
  enabled        boolean     NOT NULL DEFAULT true,
  version        integer     NOT NULL DEFAULT 1,
  triggers       jsonb       NOT NULL,
  steps          jsonb       NOT NULL,
  author_id      uuid        NOT NULL,              -- actions run with this user's permissions
  webhook_secret_hash text,                         -- SHA-256 of the inbound webhook secret
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  updated_by     uuid,
  deleted_at     timestamptz,
  PRIMARY KEY (tenant_id, id)
);
SELECT huike.enable_tenant_rls('workflows.workflows');
CREATE INDEX workflows_list ON workflows.workflows (tenant_id, created_at DESC, id DESC) WHERE deleted_at IS NULL;
-- Which enabled workflows listen to an entity's events: read on every record event.
CREATE INDEX workflows_enabled ON workflows.workflows (tenant_id) WHERE enabled AND deleted_at IS NULL;

-- Inbound webhooks: which workflow (and tenant) a call to /api/v1/workflow-hooks/{id} is for, and
-- the SHA-256 of its secret. Read before the tenant is known (the secret is the credential), so
-- not under RLS: ids and a hash only, like records.tenants.
CREATE TABLE workflows.webhook_endpoints (
  workflow_id uuid PRIMARY KEY,
  tenant_id   uuid NOT NULL,
  secret_hash text NOT NULL
);

CREATE TABLE workflows.workflow_versions (
  tenant_id   uuid        NOT NULL,
  workflow_id uuid        NOT NULL,
  version     integer     NOT NULL,
  name        text        NOT NULL,
  triggers    jsonb       NOT NULL,
  steps       jsonb       NOT NULL,
  author_id   uuid        NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, workflow_id, version)
);
SELECT huike.enable_tenant_rls('workflows.workflow_versions');

-- A run of a workflow version for one triggering event (a record event, a timer, a manual start, a
-- webhook call). trigger_key is unique per workflow: a redelivered event or a timer fired twice
-- finds its run already there, so every effect happens once.
CREATE TABLE workflows.runs (
  tenant_id        uuid        NOT NULL,
  id               uuid        NOT NULL,
  workflow_id      uuid        NOT NULL,
  workflow_version integer     NOT NULL,
  trigger_index    integer     NOT NULL,
  trigger_type     text        NOT NULL,
  trigger_key      text        NOT NULL,
  record_type      text,
  record_id        uuid,
  status           text        NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'running', 'waiting', 'succeeded', 'failed', 'cancelled', 'skipped')),
  context          jsonb       NOT NULL DEFAULT '{}',   -- record, old, actor at the trigger
  depth            integer     NOT NULL DEFAULT 0,      -- how many workflow writes led to this run
  late             boolean     NOT NULL DEFAULT false,  -- its timer came due while nothing ran
  error            text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  started_at       timestamptz,
  finished_at      timestamptz,
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, workflow_id, trigger_key)
);
SELECT huike.enable_tenant_rls('workflows.runs');
CREATE INDEX runs_of_workflow ON workflows.runs (tenant_id, workflow_id, created_at DESC, id DESC);
CREATE INDEX runs_recent ON workflows.runs (tenant_id, created_at DESC, id DESC);
CREATE INDEX runs_open ON workflows.runs (tenant_id, status) WHERE status IN ('pending', 'running', 'waiting');
-- Waiting runs of a record: their "wait until" conditions are checked on the record's events.
CREATE INDEX runs_waiting ON workflows.runs (tenant_id, record_id) WHERE status = 'waiting';

-- What each step of a run did: its input, output, duration and error.
CREATE TABLE workflows.run_steps (
  tenant_id   uuid        NOT NULL,
  run_id      uuid        NOT NULL,
  seq         integer     NOT NULL,
  path        text        NOT NULL,     -- "steps[1].then[0]"
  type        text        NOT NULL,
  status      text        NOT NULL CHECK (status IN ('succeeded', 'failed', 'skipped', 'waiting')),
  input       jsonb       NOT NULL DEFAULT '{}',
  output      jsonb       NOT NULL DEFAULT '{}',
  error       text,
  started_at  timestamptz NOT NULL DEFAULT now(),
  duration_ms integer     NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, run_id, seq)
);
SELECT huike.enable_tenant_rls('workflows.run_steps');

-- Durable timers: a date trigger's next firing for one record, a settle window, a waiting run, a
-- schedule's next tick. One live timer per key: re-planning a record's date is an upsert.
CREATE TABLE workflows.timers (
  tenant_id     uuid        NOT NULL,
  id            uuid        NOT NULL,
  key           text        NOT NULL,
  kind          text        NOT NULL CHECK (kind IN ('date', 'settle', 'wait', 'schedule')),
  due_at        timestamptz NOT NULL,
  workflow_id   uuid        NOT NULL,
  trigger_index integer,
  record_type   text,
  record_id     uuid,
  run_id        uuid,
  payload       jsonb       NOT NULL DEFAULT '{}',
  created_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, key)
);
SELECT huike.enable_tenant_rls('workflows.timers');
CREATE INDEX timers_of_record ON workflows.timers (tenant_id, record_id) WHERE record_id IS NOT NULL;
CREATE INDEX timers_of_workflow ON workflows.timers (tenant_id, workflow_id);

-- What is due across tenants, for the workers of every replica: timers to fire and runs to run
-- (or resume). Ids and times only, no tenant data, so not under RLS (like records.tenants). A
-- worker leases due rows with SKIP LOCKED; a lease that runs out (its replica died) is taken by
-- another, and a run's unique trigger_key and its recorded steps keep every effect single.
CREATE TABLE workflows.queue (
  id           uuid        PRIMARY KEY,               -- a timer's id (kind timer) or a run's (kind run)
  kind         text        NOT NULL CHECK (kind IN ('timer', 'run')),
  tenant_id    uuid        NOT NULL,
  due_at       timestamptz NOT NULL,
  leased_until timestamptz,
  attempts     integer     NOT NULL DEFAULT 0
);
CREATE INDEX queue_due ON workflows.queue (due_at);
