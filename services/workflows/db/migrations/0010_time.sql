-- Time: objection SLA clocks, task reminders and overdue alerts, follow-up reminders and the daily
-- digest (numbered 0010 to leave room for the directory and approvals migrations).

-- Timers that belong to no workflow: SLA warnings and breaches ('sla'), reminders and overdue
-- alerts ('reminder'), a tenant's daily digest ('digest').
ALTER TABLE workflows.timers ALTER COLUMN workflow_id DROP NOT NULL;
ALTER TABLE workflows.timers DROP CONSTRAINT timers_kind_check;
ALTER TABLE workflows.timers ADD CONSTRAINT timers_kind_check
  CHECK (kind IN ('date', 'settle', 'wait', 'schedule', 'sla', 'reminder', 'digest'));

-- When the daily digest goes out, in the calendar's time zone, on working days.
ALTER TABLE workflows.calendars ADD COLUMN digest_at text NOT NULL DEFAULT '08:30';

-- A tenant's SLA policy; the defaults (see domain/sla.py) until the tenant saves its own.
CREATE TABLE workflows.sla_policies (
  tenant_id      uuid        PRIMARY KEY,
  warning_share  numeric     NOT NULL,
  targets        jsonb       NOT NULL,       -- {"high": {"first_response_hours", "resolution_hours"}, ...}
  categories     jsonb       NOT NULL DEFAULT '{}',   -- {"price": {"high": {...}}}: overrides per category
  reassign_on_breach boolean NOT NULL DEFAULT false,  -- a breach also reassigns to the head escalated to
  version        integer     NOT NULL DEFAULT 1,
  updated_at     timestamptz NOT NULL DEFAULT now(),
  updated_by     uuid
);
SELECT huike.enable_tenant_rls('workflows.sla_policies');

-- An objection's SLA clock, kept from records' objection events: its two phases (first response,
-- resolution), each with a warning and a due time in business time, and where each stands.
CREATE TABLE workflows.sla_clocks (
  tenant_id              uuid        NOT NULL,
  objection_id           uuid        NOT NULL,
  customer_id            uuid,
  title                  text        NOT NULL DEFAULT '',
  severity               text        NOT NULL,
  category               text,
  assignee_id            uuid,
  owner_id               uuid,
  started_at             timestamptz NOT NULL,
  first_response_warn_at timestamptz NOT NULL,
  first_response_due_at  timestamptz NOT NULL,
  resolution_warn_at     timestamptz NOT NULL,
  resolution_due_at      timestamptz NOT NULL,
  first_responded_at     timestamptz,
  resolved_at            timestamptz,
  first_response_state   text NOT NULL DEFAULT 'on_track' CHECK (first_response_state IN ('on_track', 'at_risk', 'breached', 'met')),
  resolution_state       text NOT NULL DEFAULT 'on_track' CHECK (resolution_state IN ('on_track', 'at_risk', 'breached', 'met')),
  state                  text NOT NULL DEFAULT 'on_track' CHECK (state IN ('on_track', 'at_risk', 'breached', 'met')),
  escalated_to           uuid,
  updated_at             timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, objection_id)
);
SELECT huike.enable_tenant_rls('workflows.sla_clocks');
CREATE INDEX sla_clocks_open ON workflows.sla_clocks (tenant_id, state) WHERE resolved_at IS NULL;

-- What reminders and the digest need of tasks and customers, kept from records' events: whose it
-- is, its title, and its dates.
CREATE TABLE workflows.tracked_records (
  tenant_id    uuid        NOT NULL,
  entity       text        NOT NULL CHECK (entity IN ('task', 'customer')),
  record_id    uuid        NOT NULL,
  user_id      uuid,                    -- a task's assignee, a customer's owner
  title        text        NOT NULL DEFAULT '',
  open         boolean     NOT NULL,    -- a task still to do; a live customer
  due_at       timestamptz,             -- a task's due_at, a customer's next_follow_up_at
  remind_at    timestamptz,             -- a task's remind_at
  version      integer     NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, entity, record_id)
);
SELECT huike.enable_tenant_rls('workflows.tracked_records');
CREATE INDEX tracked_records_user_due ON workflows.tracked_records (tenant_id, user_id, due_at) WHERE open;
