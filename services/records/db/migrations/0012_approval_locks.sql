-- Fields an approval pending in workflows guards: while a row is here, a write of one of its fields
-- to the record answers 409 naming the approval. Workflows adds and removes rows over the command
-- RPC (ops lock / unlock); each entity's one update path checks them (domain/locks.py).
CREATE TABLE records.record_locks (
  tenant_id   uuid   NOT NULL,
  entity      text   NOT NULL,
  record_id   uuid   NOT NULL,
  approval_id uuid   NOT NULL,
  fields      text[] NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, entity, record_id, approval_id)
);
SELECT huike.enable_tenant_rls('records.record_locks');
