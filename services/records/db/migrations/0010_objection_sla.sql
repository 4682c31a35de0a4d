-- An objection's SLA as workflows keeps it (on the tenant's business calendar): its state and the
-- two due times, written through records' SLA command (huike.rpc.records.sla), never by clients.
-- Null until workflows has started the objection's clock.
ALTER TABLE records.objections
  ADD COLUMN sla_state text CHECK (sla_state IN ('on_track', 'at_risk', 'breached', 'met')),
  ADD COLUMN sla_due_at timestamptz,
  ADD COLUMN first_response_due_at timestamptz;
-- The sla_state list filter (and the report's count by state).
CREATE INDEX objections_sla_state ON records.objections (tenant_id, sla_state, created_at DESC, id DESC)
  WHERE deleted_at IS NULL;
