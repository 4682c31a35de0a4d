CREATE TABLE rlstest.notes (
  tenant_id uuid NOT NULL,
  id        uuid NOT NULL,
  body      text NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
SELECT huike.enable_tenant_rls('rlstest.notes');
