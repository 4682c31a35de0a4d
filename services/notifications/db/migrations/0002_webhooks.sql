-- Outgoing webhooks (Standard Webhooks) and chat robots (钉钉, 飞书, 企业微信): the targets, one
-- delivery per (target, event), every attempt, and the cross-tenant due queue the workers lease.
-- Stands alone: nothing here refers to the inbox tables of 0001. Every tenant-owned table:
-- tenant_id first in the primary key and in every index, forced row-level security.

-- A tenant's webhook endpoint. The secret signs (HMAC needs it in clear), so it is stored, and shown
-- once; after a rotation the previous one keeps signing too until previous_secret_expires_at.
CREATE TABLE notifications.webhook_endpoints (
  tenant_id                  uuid        NOT NULL,
  id                         uuid        NOT NULL,
  url                        text        NOT NULL,
  description                text,
  events                     text[]      NOT NULL,       -- "customer.created", "customer.*", "*"
  hidden_fields              jsonb       NOT NULL DEFAULT '{}',  -- {entity: [field]}: the creator's hidden fields
  enabled                    boolean     NOT NULL DEFAULT true,
  disabled_reason            text,
  secret                     text        NOT NULL,
  previous_secret            text,
  previous_secret_expires_at timestamptz,
  failing_since              timestamptz,                -- first failure since the last success
  version                    integer     NOT NULL DEFAULT 1,
  created_by                 uuid,
  created_at                 timestamptz NOT NULL DEFAULT now(),
  updated_at                 timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);
SELECT huike.enable_tenant_rls('notifications.webhook_endpoints');
CREATE INDEX webhook_endpoints_list ON notifications.webhook_endpoints (tenant_id, created_at DESC, id DESC);

-- A chat robot of a tenant (a group's custom robot), optionally for one department's records.
CREATE TABLE notifications.chat_robots (
  tenant_id       uuid        NOT NULL,
  id              uuid        NOT NULL,
  platform        text        NOT NULL CHECK (platform IN ('dingtalk', 'feishu', 'wecom')),
  name            text        NOT NULL,
  webhook_url     text        NOT NULL,
  secret          text,
  events          text[]      NOT NULL,
  department_id   uuid,
  enabled         boolean     NOT NULL DEFAULT true,
  disabled_reason text,
  failing_since   timestamptz,
  version         integer     NOT NULL DEFAULT 1,
  created_by      uuid,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);
SELECT huike.enable_tenant_rls('notifications.chat_robots');
CREATE INDEX chat_robots_list ON notifications.chat_robots (tenant_id, created_at DESC, id DESC);

-- One message to one target (a webhook endpoint or a chat robot): unique per (target, event), so a
-- redelivered event makes no second delivery. payload is what is sent (the envelope the target may
-- see); a replay sends the same message again (same webhook-id).
CREATE TABLE notifications.hook_deliveries (
  tenant_id       uuid        NOT NULL,
  id              uuid        NOT NULL,
  target_kind     text        NOT NULL CHECK (target_kind IN ('webhook', 'robot')),
  target_id       uuid        NOT NULL,
  event_id        uuid        NOT NULL,
  event_type      text        NOT NULL,
  occurred_at     timestamptz NOT NULL,
  payload         jsonb       NOT NULL,
  status          text        NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'succeeded', 'failed', 'cancelled')),
  attempts        integer     NOT NULL DEFAULT 0,       -- failed tries since it was (re)queued
  next_attempt_at timestamptz,
  last_error      text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, target_id, event_id)
);
SELECT huike.enable_tenant_rls('notifications.hook_deliveries');
CREATE INDEX hook_deliveries_of_target ON notifications.hook_deliveries (tenant_id, target_id, created_at DESC, id DESC);

-- Every HTTP attempt of a delivery: what the receiver answered (or why nothing was sent), how long.
CREATE TABLE notifications.hook_attempts (
  tenant_id        uuid        NOT NULL,
  delivery_id      uuid        NOT NULL,
  seq              integer     NOT NULL,
  target_id        uuid        NOT NULL,
  attempted_at     timestamptz NOT NULL DEFAULT now(),
  succeeded        boolean     NOT NULL,
  status_code      integer,
  duration_ms      integer     NOT NULL DEFAULT 0,
  response_excerpt text,
  error            text,
  PRIMARY KEY (tenant_id, delivery_id, seq)
);
SELECT huike.enable_tenant_rls('notifications.hook_attempts');
-- A robot's sends of the last minute (its platform's rate limit).
CREATE INDEX hook_attempts_recent ON notifications.hook_attempts (tenant_id, target_id, attempted_at);

-- What is due across tenants, for the delivery workers of every replica: delivery ids and times
-- only, no tenant data, so not under RLS (like workflows.queue). Leased with SKIP LOCKED; a lease
-- that runs out (its replica died mid-send) is taken by another: at least once.
CREATE TABLE notifications.hook_queue (
  id           uuid        PRIMARY KEY,               -- the delivery's id
  tenant_id    uuid        NOT NULL,
  due_at       timestamptz NOT NULL,
  leased_until timestamptz
);
CREATE INDEX hook_queue_due ON notifications.hook_queue (due_at);
