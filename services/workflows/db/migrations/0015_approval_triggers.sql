-- An approval template's own trigger: a change of its kind of record (created, updated, transferred;
-- optionally only when named fields change) requests the approval without a workflow, when the
-- template's condition holds. The request is made by a timer of its own kind (approval_start), so
-- the records round trips it needs happen outside the trigger consumer's transaction and are
-- retried when records is down.
ALTER TABLE workflows.approval_templates ADD COLUMN trigger jsonb;
CREATE INDEX approval_templates_triggered ON workflows.approval_templates (tenant_id, entity)
  WHERE trigger IS NOT NULL AND enabled AND deleted_at IS NULL;
ALTER TABLE workflows.timers DROP CONSTRAINT IF EXISTS timers_kind_check;
ALTER TABLE workflows.timers ADD CONSTRAINT timers_kind_check
  CHECK (kind IN ('date', 'settle', 'wait', 'schedule', 'sla', 'reminder', 'digest', 'health', 'approval',
                  'approval_start'));
