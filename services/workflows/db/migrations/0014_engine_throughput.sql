-- The engine walks leased items concurrently. Items of one record (its runs and timers) must still
-- be handled one after the other, in the order they were queued: serial_key is the record's id
-- (NULL: no order to keep), seq the queue order. Only the first item of a serial_key may be leased.
ALTER TABLE workflows.queue ADD COLUMN serial_key uuid;
CREATE SEQUENCE workflows.queue_seq;
ALTER TABLE workflows.queue ADD COLUMN seq bigint NOT NULL DEFAULT nextval('workflows.queue_seq');
ALTER SEQUENCE workflows.queue_seq OWNED BY workflows.queue.seq;
CREATE INDEX queue_serial ON workflows.queue (serial_key, seq) WHERE serial_key IS NOT NULL;

-- A tenant's own bounds on its workflows (one row; the defaults of services/workflows/limits.py
-- until the tenant saves its own).
CREATE TABLE workflows.settings (
  tenant_id           uuid        PRIMARY KEY,
  max_runs_per_minute integer     NOT NULL CHECK (max_runs_per_minute BETWEEN 1 AND 1000000),
  version             integer     NOT NULL DEFAULT 1,
  updated_at          timestamptz NOT NULL DEFAULT now(),
  updated_by          uuid
);
SELECT huike.enable_tenant_rls('workflows.settings');

-- least_loaded: the users picked from a pool, whose assignment records' counts may not show yet.
-- A pick reads them and adds its own under the pool's lock; recording the step stamps landed_at
-- (its command was answered before): a pick whose counts were read after that stamp no longer
-- adds it. Rows older than a few minutes (a crashed run's too) stop counting and are removed.
CREATE TABLE workflows.assignment_reservations (
  tenant_id  uuid        NOT NULL,
  key        text        NOT NULL,           -- the step's command key (<run id>:<step path>)
  pool       text        NOT NULL,
  user_id    uuid        NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  landed_at  timestamptz,
  PRIMARY KEY (tenant_id, key)
);
SELECT huike.enable_tenant_rls('workflows.assignment_reservations');
CREATE INDEX assignment_reservations_pool ON workflows.assignment_reservations (tenant_id, pool, created_at);
