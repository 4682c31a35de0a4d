-- Approvals (审批流): templates per tenant, requests with their approvers per step and every
-- decision. Every tenant-owned table: tenant_id first in the primary key and every index, forced RLS.

CREATE TABLE workflows.approval_templates (
  tenant_id      uuid        NOT NULL,
  id             uuid        NOT NULL,
  name           text        NOT NULL,
  description    text,
  entity         text        NOT NULL,
  condition      text,                              -- CEL over record (and actor): when it applies
  guarded_fields text[]      NOT NULL DEFAULT '{}', -- locked on the record while a request is pending
  steps          jsonb       NOT NULL,              -- [{name, approvers: [...], mode, sla, business_time}]
  enabled        boolean     NOT NULL DEFAULT true,
  version        integer     NOT NULL DEFAULT 1,
  created_by     uuid        NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  deleted_at     timestamptz,
  PRIMARY KEY (tenant_id, id)
);
SELECT huike.enable_tenant_rls('workflows.approval_templates');
CREATE INDEX approval_templates_list ON workflows.approval_templates (tenant_id, created_at DESC, id DESC)
  WHERE deleted_at IS NULL;

-- One request: the template's steps as they were when it was made, where it stands, who made it.
CREATE TABLE workflows.approvals (
  tenant_id        uuid        NOT NULL,
  id               uuid        NOT NULL,
  template_id      uuid        NOT NULL,
  template_version integer     NOT NULL,
  name             text        NOT NULL,
  entity           text        NOT NULL,
  record_id        uuid        NOT NULL,
  submitted_by     uuid        NOT NULL,
  status           text        NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'approved', 'rejected', 'returned', 'recalled')),
  current_step     integer     NOT NULL DEFAULT 0,
  steps            jsonb       NOT NULL,
  guarded_fields   text[]      NOT NULL DEFAULT '{}',
  run_id           uuid,                              -- the workflow run waiting on it, if any
  run_path         text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  step_started_at  timestamptz NOT NULL DEFAULT now(),
  finished_at      timestamptz,
  version          integer     NOT NULL DEFAULT 1,
  PRIMARY KEY (tenant_id, id)
);
SELECT huike.enable_tenant_rls('workflows.approvals');
CREATE INDEX approvals_submitted ON workflows.approvals (tenant_id, submitted_by, created_at DESC, id DESC);
CREATE INDEX approvals_recent ON workflows.approvals (tenant_id, created_at DESC, id DESC);
-- One pending request per record and template; one request per workflow step.
CREATE UNIQUE INDEX approvals_one_pending ON workflows.approvals (tenant_id, entity, record_id, template_id)
  WHERE status = 'pending';
CREATE UNIQUE INDEX approvals_of_run ON workflows.approvals (tenant_id, run_id, run_path) WHERE run_id IS NOT NULL;

-- Who approves each step: resolved from the template's rules when the request is made, then
-- changed by transfer (转交) and add_approver (加签). decision is null until they decide.
CREATE TABLE workflows.approval_approvers (
  tenant_id   uuid        NOT NULL,
  approval_id uuid        NOT NULL,
  step        integer     NOT NULL,
  user_id     uuid        NOT NULL,
  added_by    uuid,                 -- who transferred to or added them (null: the template)
  decision    text CHECK (decision IN ('approve', 'reject', 'return', 'transfer')),
  comment     text,
  decided_at  timestamptz,
  PRIMARY KEY (tenant_id, approval_id, step, user_id)
);
SELECT huike.enable_tenant_rls('workflows.approval_approvers');
-- "Waiting for me": the caller's undecided places.
CREATE INDEX approval_approvers_of_user ON workflows.approval_approvers (tenant_id, user_id) WHERE decision IS NULL;

-- Every decision, recall and change, in order: what the approval's page and the record's history show.
CREATE TABLE workflows.approval_decisions (
  tenant_id   uuid        NOT NULL,
  approval_id uuid        NOT NULL,
  seq         integer     NOT NULL,
  step        integer     NOT NULL,
  user_id     uuid        NOT NULL,
  decision    text        NOT NULL,  -- approve | reject | return | transfer | add_approver | recall
  comment     text,
  target_id   uuid,                  -- transfer / add_approver: the user named
  decided_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, approval_id, seq)
);
SELECT huike.enable_tenant_rls('workflows.approval_decisions');

-- A step's SLA is a timer of its own kind, with no workflow. The list also names the kinds of the
-- time features (SLA clocks, reminders, digests, health: 0010 and 0011), so either merge order keeps both.
ALTER TABLE workflows.timers DROP CONSTRAINT IF EXISTS timers_kind_check;
ALTER TABLE workflows.timers ADD CONSTRAINT timers_kind_check
  CHECK (kind IN ('date', 'settle', 'wait', 'schedule', 'sla', 'reminder', 'digest', 'health', 'approval'));
ALTER TABLE workflows.timers ALTER COLUMN workflow_id DROP NOT NULL;
