-- SLA escalation levels and pauses (issue 14): the policy's levels, and on each objection's clock
-- the levels planned for it (with when each fired) and its pause.
ALTER TABLE workflows.sla_policies ADD COLUMN escalations jsonb NOT NULL DEFAULT '[]';

ALTER TABLE workflows.sla_clocks
  -- [{phase, index, at, due_at, notify, reassign, fired_at}]: each level fires once
  ADD COLUMN escalations  jsonb       NOT NULL DEFAULT '[]',
  ADD COLUMN paused_at    timestamptz,                          -- set while the clock is paused
  ADD COLUMN pause_reason text,
  ADD COLUMN paused_by    uuid,
  ADD COLUMN paused_total interval    NOT NULL DEFAULT '0';     -- business time paused so far
