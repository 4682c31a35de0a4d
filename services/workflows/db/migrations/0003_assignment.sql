-- Round-robin assignment: a pointer per (workflow, pool). Taking a turn is one upsert that locks the
-- row, so two runs at once get two different turns. "pool" is "department:<id>" or "role:<key>".
CREATE TABLE workflows.assignment_turns (
  tenant_id   uuid   NOT NULL,
  workflow_id uuid   NOT NULL,
  pool        text   NOT NULL,
  turn        bigint NOT NULL DEFAULT 0,   -- turns taken so far
  PRIMARY KEY (tenant_id, workflow_id, pool)
);
SELECT huike.enable_tenant_rls('workflows.assignment_turns');

-- Who a step chose, by the step's command key (<run id>:<step path>): a step done again after a
-- crash or a retry chooses the same user instead of taking another turn.
CREATE TABLE workflows.assignment_choices (
  tenant_id  uuid NOT NULL,
  key        text NOT NULL,
  user_id    uuid NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, key)
);
SELECT huike.enable_tenant_rls('workflows.assignment_choices');
