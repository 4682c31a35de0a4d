-- Notifications: the in-app inbox, deliveries per channel, preferences, suppressed addresses, and
-- the local SMTP sink of the embedded default. Every tenant-owned table: tenant_id first in the
-- primary key and in every index, forced row-level security.

-- One notification for one user. params are the template's values, already stripped of what the
-- recipient may not see (their role's hidden fields); title and body are rendered from them in the
-- reader's language when read. seq numbers a user's notifications in commit order (taken from
-- user_streams under a row lock): it is the SSE event id, so a reconnect with Last-Event-ID
-- misses and repeats nothing. A collapsed burst (50 customers transferred at once) is one row
-- whose count grows; each growth takes a new seq, so open streams see it again.
CREATE TABLE notifications.notifications (
  tenant_id   uuid        NOT NULL,
  id          uuid        NOT NULL,
  user_id     uuid        NOT NULL,
  seq         bigint      NOT NULL,
  type        text        NOT NULL,
  params      jsonb       NOT NULL DEFAULT '{}',
  link_type   text,
  link_id     text,
  group_key   text,                              -- bursts with the same key collapse into one row
  count       integer     NOT NULL DEFAULT 1,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  read_at     timestamptz,
  archived_at timestamptz,
  PRIMARY KEY (tenant_id, id)
);
SELECT huike.enable_tenant_rls('notifications.notifications');
CREATE UNIQUE INDEX notifications_stream ON notifications.notifications (tenant_id, user_id, seq);
CREATE INDEX notifications_inbox ON notifications.notifications (tenant_id, user_id, created_at DESC, id DESC)
  WHERE archived_at IS NULL;
CREATE INDEX notifications_unread ON notifications.notifications (tenant_id, user_id)
  WHERE read_at IS NULL AND archived_at IS NULL;
CREATE INDEX notifications_group ON notifications.notifications (tenant_id, user_id, group_key, created_at DESC)
  WHERE group_key IS NOT NULL AND read_at IS NULL;

-- Which event made which notification: one row per (event, recipient, type), so a redelivered or
-- replayed event finds its notification already there and changes nothing.
CREATE TABLE notifications.notification_sources (
  tenant_id       uuid NOT NULL,
  event_id        uuid NOT NULL,
  user_id         uuid NOT NULL,
  type            text NOT NULL,
  notification_id uuid NOT NULL,
  PRIMARY KEY (tenant_id, event_id, user_id, type)
);
SELECT huike.enable_tenant_rls('notifications.notification_sources');

-- The last seq given to each user's notifications (the row lock orders a user's inserts).
CREATE TABLE notifications.user_streams (
  tenant_id uuid   NOT NULL,
  user_id   uuid   NOT NULL,
  last_seq  bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, user_id)
);
SELECT huike.enable_tenant_rls('notifications.user_streams');

-- What each channel other than in-app does with a notification: one row per (notification,
-- channel). address and content are fixed when the row is made (a mail for a password reset has
-- no inbox row to render from: its content is here). A sent mail carries Message-ID
-- <delivery id@huike>, so a receiver can drop a repeat.
CREATE TABLE notifications.deliveries (
  tenant_id       uuid        NOT NULL,
  id              uuid        NOT NULL,
  notification_id uuid,                          -- null for mail that has no inbox row
  user_id         uuid,
  channel         text        NOT NULL CHECK (channel IN ('email')),
  address         text        NOT NULL,
  type            text        NOT NULL,
  locale          text        NOT NULL,
  content         jsonb       NOT NULL,          -- {subject, text, html}
  status          text        NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'sent', 'failed', 'suppressed', 'dead', 'digest')),
  attempts        integer     NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  last_error      text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  sent_at         timestamptz,
  PRIMARY KEY (tenant_id, id)
);
SELECT huike.enable_tenant_rls('notifications.deliveries');
CREATE UNIQUE INDEX deliveries_once ON notifications.deliveries (tenant_id, notification_id, channel)
  WHERE notification_id IS NOT NULL;
CREATE INDEX deliveries_of_address ON notifications.deliveries (tenant_id, address, created_at DESC);

-- Deliveries due, across tenants, for the sender of every replica (ids and times only, no tenant
-- data: not under RLS, like workflows.queue). Leased with SKIP LOCKED; a lease that runs out (its
-- replica died) is taken by another, so a mail is sent at least once.
CREATE TABLE notifications.delivery_queue (
  id           uuid        PRIMARY KEY,            -- the delivery's id
  tenant_id    uuid        NOT NULL,
  due_at       timestamptz NOT NULL,
  leased_until timestamptz
);
CREATE INDEX delivery_queue_due ON notifications.delivery_queue (due_at);

-- Addresses that kept failing (or bounced): no more mail goes there until an admin lifts it.
CREATE TABLE notifications.suppressions (
  tenant_id     uuid        NOT NULL,
  address       text        NOT NULL,
  reason        text        NOT NULL,
  failures      integer     NOT NULL DEFAULT 0,
  suppressed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, address)
);
SELECT huike.enable_tenant_rls('notifications.suppressions');

-- A user's preferences: per type {channels, digest}, quiet hours in their time zone.
CREATE TABLE notifications.user_preferences (
  tenant_id   uuid        NOT NULL,
  user_id     uuid        NOT NULL,
  types       jsonb       NOT NULL DEFAULT '{}',
  quiet_hours text,                                -- "22:00-08:00"
  time_zone   text,
  version     integer     NOT NULL DEFAULT 1,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, user_id)
);
SELECT huike.enable_tenant_rls('notifications.user_preferences');

-- The tenant's defaults, set by an admin; a user's own choice wins over them.
CREATE TABLE notifications.tenant_defaults (
  tenant_id   uuid        PRIMARY KEY,
  types       jsonb       NOT NULL DEFAULT '{}',
  quiet_hours text,
  time_zone   text,
  version     integer     NOT NULL DEFAULT 1,
  updated_at  timestamptz NOT NULL DEFAULT now()
);
SELECT huike.enable_tenant_rls('notifications.tenant_defaults');

-- The local SMTP sink (embedded default, no HUIKE_SMTP_HOST): every mail the sender handed over,
-- as received, for `huike mail list|show`. An operator's tool, read across tenants: not
-- tenant-owned (no tenant_id; the newest 5,000 are kept).
CREATE TABLE notifications.sink_mail (
  id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  received_at timestamptz NOT NULL DEFAULT now(),
  mail_from   text        NOT NULL,
  rcpt_to     text[]      NOT NULL,
  subject     text        NOT NULL DEFAULT '',
  message_id  text,
  raw         bytea       NOT NULL
);
