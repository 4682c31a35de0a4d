-- A customer's health as workflows computes it from events: 0-100 (100 healthy, low means churn
-- risk) and the reasons points were taken off; written through records' health command
-- (huike.rpc.records.health), never by clients. Null until workflows has scored the customer.
ALTER TABLE records.customers
  ADD COLUMN health_score smallint CHECK (health_score BETWEEN 0 AND 100),
  ADD COLUMN health_reasons jsonb NOT NULL DEFAULT '[]';
-- The health_score_max filter and the health_score sort (unscored customers as 101: last ascending).
CREATE INDEX customers_health ON records.customers (tenant_id, (coalesce(health_score, 101)), id)
  WHERE deleted_at IS NULL;
