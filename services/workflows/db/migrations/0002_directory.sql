-- Workflows' mirror of identity's users and departments (directory.py keeps it from identity's
-- events): who heads a department, who is N levels up, who is in a department or has a role, for
-- assignment strategies, approvals and escalations. Never identity's tables.
CREATE TABLE workflows.directory_users (
  tenant_id     uuid   NOT NULL,
  id            uuid   NOT NULL,
  status        text   NOT NULL DEFAULT 'active',
  department_id uuid,
  roles         text[] NOT NULL DEFAULT '{}',   -- role keys (a tenant has few users: the primary key finds them)
  locale        text   NOT NULL DEFAULT 'zh-CN',
  name          text   NOT NULL DEFAULT '',
  updated_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);
SELECT huike.enable_tenant_rls('workflows.directory_users');
CREATE INDEX directory_users_department ON workflows.directory_users (tenant_id, department_id) WHERE status = 'active';

CREATE TABLE workflows.directory_departments (
  tenant_id    uuid NOT NULL,
  id           uuid NOT NULL,
  parent_id    uuid,
  path         text NOT NULL,   -- ids from the root, "<root>/<child>/...", as identity keeps it
  head_user_id uuid,
  updated_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);
SELECT huike.enable_tenant_rls('workflows.directory_departments');
CREATE INDEX directory_departments_path ON workflows.directory_departments (tenant_id, path text_pattern_ops);
