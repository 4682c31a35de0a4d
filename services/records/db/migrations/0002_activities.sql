-- Activities: interactions (沟通记录), objections (客户异议) with their status history, tasks (跟进任务).
-- Every index leads with tenant_id; list indexes are partial on live rows (deleted_at IS NULL),
-- which is what every read asks for. Children of a customer go with it when it is purged.
-- Lists sort by due time as coalesce(due_at, '9999-12-31'): no due time sorts last (ascending);
-- the due_at indexes use that same expression so keyset paging and due ranges use them.

CREATE TABLE records.interactions (
  tenant_id          uuid        NOT NULL,
  id                 uuid        NOT NULL,
  customer_id        uuid        NOT NULL,
  contact_ids        uuid[]      NOT NULL DEFAULT '{}',   -- participants: contacts of that customer
  user_ids           uuid[]      NOT NULL DEFAULT '{}',   -- participants: users of the tenant
  channel            text        NOT NULL CHECK (channel IN ('phone', 'email', 'wechat', 'visit', 'meeting', 'form', 'other')),
  direction          text        CHECK (direction IN ('inbound', 'outbound')),
  occurred_at        timestamptz NOT NULL,
  summary            text        NOT NULL,
  details            text,
  sentiment          text        CHECK (sentiment IN ('positive', 'neutral', 'negative')),
  next_step          text,
  next_follow_up_at  timestamptz,
  owner_id           uuid,
  department_id      uuid,
  custom_fields      jsonb       NOT NULL DEFAULT '{}',
  version            integer     NOT NULL DEFAULT 1,
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now(),
  created_by         uuid,
  updated_by         uuid,
  deleted_at         timestamptz,
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, customer_id) REFERENCES records.customers (tenant_id, id) ON DELETE CASCADE
);
SELECT huike.enable_tenant_rls('records.interactions');
CREATE INDEX interactions_occurred ON records.interactions (tenant_id, occurred_at, id) WHERE deleted_at IS NULL;
CREATE INDEX interactions_created ON records.interactions (tenant_id, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX interactions_updated ON records.interactions (tenant_id, updated_at, id) WHERE deleted_at IS NULL;
CREATE INDEX interactions_customer ON records.interactions (tenant_id, customer_id, occurred_at, id) WHERE deleted_at IS NULL;
CREATE INDEX interactions_owner ON records.interactions (tenant_id, owner_id, occurred_at, id) WHERE deleted_at IS NULL;
CREATE INDEX interactions_channel ON records.interactions (tenant_id, channel, occurred_at, id) WHERE deleted_at IS NULL;
CREATE INDEX interactions_department ON records.interactions (tenant_id, department_id) WHERE deleted_at IS NULL;
-- Restores and the purge find deleted rows by when they were deleted.
CREATE INDEX interactions_deleted ON records.interactions (tenant_id, deleted_at) WHERE deleted_at IS NOT NULL;

CREATE TABLE records.objections (
  tenant_id       uuid        NOT NULL,
  id              uuid        NOT NULL,
  customer_id     uuid        NOT NULL,
  interaction_id  uuid,
  category        text        NOT NULL,
  severity        text        NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
  description     text        NOT NULL,
  status          text        NOT NULL DEFAULT 'open'
                              CHECK (status IN ('open', 'in_progress', 'resolved', 'closed', 'reopened')),
  assignee_id     uuid,
  due_at          timestamptz,
  resolution      text,
  satisfaction    smallint    CHECK (satisfaction BETWEEN 1 AND 5),
  -- kept for reporting (processing time, closure rate): the last time it was resolved / closed
  resolved_at     timestamptz,
  closed_at       timestamptz,
  reopen_count    integer     NOT NULL DEFAULT 0,
  owner_id        uuid,
  department_id   uuid,
  custom_fields   jsonb       NOT NULL DEFAULT '{}',
  version         integer     NOT NULL DEFAULT 1,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  created_by      uuid,
  updated_by      uuid,
  deleted_at      timestamptz,
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, customer_id) REFERENCES records.customers (tenant_id, id) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, interaction_id) REFERENCES records.interactions (tenant_id, id) ON DELETE SET NULL (interaction_id)
);
SELECT huike.enable_tenant_rls('records.objections');
CREATE INDEX objections_due ON records.objections (tenant_id, (coalesce(due_at, '9999-12-31 00:00:00+00'::timestamptz)), id) WHERE deleted_at IS NULL;
CREATE INDEX objections_created ON records.objections (tenant_id, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX objections_updated ON records.objections (tenant_id, updated_at, id) WHERE deleted_at IS NULL;
CREATE INDEX objections_customer ON records.objections (tenant_id, customer_id, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX objections_interaction ON records.objections (tenant_id, interaction_id) WHERE interaction_id IS NOT NULL;
CREATE INDEX objections_status ON records.objections (tenant_id, status, (coalesce(due_at, '9999-12-31 00:00:00+00'::timestamptz)), id) WHERE deleted_at IS NULL;
CREATE INDEX objections_category ON records.objections (tenant_id, category, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX objections_severity ON records.objections (tenant_id, severity, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX objections_assignee ON records.objections (tenant_id, assignee_id, (coalesce(due_at, '9999-12-31 00:00:00+00'::timestamptz)), id) WHERE deleted_at IS NULL;
CREATE INDEX objections_owner ON records.objections (tenant_id, owner_id, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX objections_department ON records.objections (tenant_id, department_id) WHERE deleted_at IS NULL;
-- Overdue = still being worked on and past its due time.
CREATE INDEX objections_overdue ON records.objections (tenant_id, due_at)
  WHERE deleted_at IS NULL AND status IN ('open', 'in_progress', 'reopened');
CREATE INDEX objections_deleted ON records.objections (tenant_id, deleted_at) WHERE deleted_at IS NOT NULL;

-- Every status move, for processing-time reports and the objection's own trail.
CREATE TABLE records.objection_status_history (
  tenant_id     uuid        NOT NULL,
  id            uuid        NOT NULL,
  objection_id  uuid        NOT NULL,
  from_status   text,                       -- NULL for the row written at creation
  to_status     text        NOT NULL,
  changed_by    uuid,
  changed_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, objection_id) REFERENCES records.objections (tenant_id, id) ON DELETE CASCADE
);
SELECT huike.enable_tenant_rls('records.objection_status_history');
CREATE INDEX objection_status_history_objection
  ON records.objection_status_history (tenant_id, objection_id, changed_at, id);

CREATE TABLE records.tasks (
  tenant_id      uuid        NOT NULL,
  id             uuid        NOT NULL,
  customer_id    uuid        NOT NULL,
  title          text        NOT NULL,
  description    text,
  due_at         timestamptz,
  remind_at      timestamptz,
  assignee_id    uuid,
  status         text        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'done', 'cancelled')),
  completed_at   timestamptz,
  owner_id       uuid,
  department_id  uuid,
  custom_fields  jsonb       NOT NULL DEFAULT '{}',
  version        integer     NOT NULL DEFAULT 1,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  created_by     uuid,
  updated_by     uuid,
  deleted_at     timestamptz,
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, customer_id) REFERENCES records.customers (tenant_id, id) ON DELETE CASCADE,
  CHECK (remind_at IS NULL OR due_at IS NULL OR remind_at <= due_at)
);
SELECT huike.enable_tenant_rls('records.tasks');
CREATE INDEX tasks_due ON records.tasks (tenant_id, (coalesce(due_at, '9999-12-31 00:00:00+00'::timestamptz)), id) WHERE deleted_at IS NULL;
CREATE INDEX tasks_created ON records.tasks (tenant_id, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX tasks_updated ON records.tasks (tenant_id, updated_at, id) WHERE deleted_at IS NULL;
CREATE INDEX tasks_customer ON records.tasks (tenant_id, customer_id, (coalesce(due_at, '9999-12-31 00:00:00+00'::timestamptz)), id) WHERE deleted_at IS NULL;
CREATE INDEX tasks_assignee ON records.tasks (tenant_id, assignee_id, (coalesce(due_at, '9999-12-31 00:00:00+00'::timestamptz)), id) WHERE deleted_at IS NULL;
CREATE INDEX tasks_owner ON records.tasks (tenant_id, owner_id, (coalesce(due_at, '9999-12-31 00:00:00+00'::timestamptz)), id) WHERE deleted_at IS NULL;
CREATE INDEX tasks_status ON records.tasks (tenant_id, status, (coalesce(due_at, '9999-12-31 00:00:00+00'::timestamptz)), id) WHERE deleted_at IS NULL;
CREATE INDEX tasks_department ON records.tasks (tenant_id, department_id) WHERE deleted_at IS NULL;
CREATE INDEX tasks_overdue ON records.tasks (tenant_id, due_at) WHERE deleted_at IS NULL AND status = 'open';
-- Reminders due soon (the workflows service learns of remind_at from events; this serves lookups).
CREATE INDEX tasks_remind ON records.tasks (tenant_id, remind_at) WHERE deleted_at IS NULL AND status = 'open';
CREATE INDEX tasks_deleted ON records.tasks (tenant_id, deleted_at) WHERE deleted_at IS NOT NULL;
