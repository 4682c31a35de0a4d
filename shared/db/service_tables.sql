-- Tables every service schema has, owned by the platform: the outbox and the consumer inbox.
-- {schema} is replaced by the service's schema name.

-- Outbox: written in the same transaction as the change, drained by the relay. Not tenant-scoped
-- by RLS: the relay publishes every tenant's events; rows carry tenant_id and live only seconds.
CREATE TABLE IF NOT EXISTS {schema}.outbox (
  seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id          uuid        NOT NULL UNIQUE,
  tenant_id   uuid        NOT NULL,
  subject     text        NOT NULL,
  payload     bytea       NOT NULL,
  headers     jsonb       NOT NULL DEFAULT '{}',
  created_at  timestamptz NOT NULL DEFAULT now()
);
-- Bulk rows (an import's) are published after every other waiting row: see shared/events/relay.py.
ALTER TABLE {schema}.outbox ADD COLUMN IF NOT EXISTS bulk boolean NOT NULL DEFAULT false;
CREATE INDEX IF NOT EXISTS outbox_lane ON {schema}.outbox (bulk, seq);
DROP TRIGGER IF EXISTS outbox_notify ON {schema}.outbox;
CREATE TRIGGER outbox_notify AFTER INSERT ON {schema}.outbox
  FOR EACH STATEMENT EXECUTE FUNCTION huike.notify_outbox();

-- Inbox: which events each consumer has already applied, so a redelivery changes nothing twice.
CREATE TABLE IF NOT EXISTS {schema}.inbox (
  tenant_id    uuid        NOT NULL,
  consumer     text        NOT NULL,
  event_id     uuid        NOT NULL,
  processed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, consumer, event_id)
);
SELECT huike.enable_tenant_rls('{schema}.inbox');

-- Tenants whose data this service deletes (or has deleted) after identity's tenant.deleted: ids and
-- the purge's progress only, not under RLS (the worker walks it), and no tenant_id column: it is a
-- tombstone, like identity.tenants. Units of work refuse these tenants (shared/db), so a late event
-- or job cannot bring anything back. See shared/tenant_purge.py.
CREATE TABLE IF NOT EXISTS {schema}.purged_tenants (
  id           uuid        PRIMARY KEY,
  requested_at timestamptz NOT NULL DEFAULT now(),
  exported_at  timestamptz,
  purged_at    timestamptz,
  reported_at  timestamptz,
  details      jsonb       NOT NULL DEFAULT '{}'
);
