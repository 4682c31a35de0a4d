-- Customers' health: what workflows knows of each customer (from records' events) and the score it
-- computed, the tenant's norm of days without an interaction per tier, and 'health' timers (the
-- score sent to records).
ALTER TABLE workflows.timers DROP CONSTRAINT timers_kind_check;
ALTER TABLE workflows.timers ADD CONSTRAINT timers_kind_check
  CHECK (kind IN ('date', 'settle', 'wait', 'schedule', 'sla', 'reminder', 'digest', 'health'));

CREATE TABLE workflows.customer_health (
  tenant_id           uuid        NOT NULL,
  customer_id         uuid        NOT NULL,
  tier                text        NOT NULL DEFAULT '',
  record              jsonb       NOT NULL,          -- the customer as its last event showed it
  since               timestamptz NOT NULL,          -- the last interaction, else the customer's creation
  next_follow_up_at   timestamptz,
  renewal_at          timestamptz,
  version             integer     NOT NULL DEFAULT 0,
  score               smallint,
  reasons             jsonb       NOT NULL DEFAULT '[]',
  computed_at         timestamptz,
  PRIMARY KEY (tenant_id, customer_id)
);
SELECT huike.enable_tenant_rls('workflows.customer_health');
CREATE INDEX customer_health_tier ON workflows.customer_health (tenant_id, tier, since);

-- The median days without an interaction of a tier's customers, recomputed at most daily.
CREATE TABLE workflows.health_norms (
  tenant_id   uuid        NOT NULL,
  tier        text        NOT NULL,
  norm_days   numeric     NOT NULL,
  computed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, tier)
);
SELECT huike.enable_tenant_rls('workflows.health_norms');

-- Open objections of a customer, for its score.
CREATE INDEX sla_clocks_customer ON workflows.sla_clocks (tenant_id, customer_id) WHERE resolved_at IS NULL;
