-- An approval a workflow step requested ends as 'cancelled' when its run is cancelled.
ALTER TABLE workflows.approvals DROP CONSTRAINT IF EXISTS approvals_status_check;
ALTER TABLE workflows.approvals ADD CONSTRAINT approvals_status_check
  CHECK (status IN ('pending', 'approved', 'rejected', 'returned', 'recalled', 'cancelled'));
