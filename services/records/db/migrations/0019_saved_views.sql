-- Saved list views (issue 16): a user's named choice of columns, filters and sort for one entity's
-- list. Private to its owner, or shared with the owner's department (and the departments below it)
-- or with the whole tenant. Filters and sort are checked against the entity's ListSpec when written
-- (services/records/domain/saved_views.py) and again by the list whenever the view is used.
CREATE TABLE records.saved_views (
  tenant_id     uuid        NOT NULL,
  id            uuid        NOT NULL,
  owner_id      uuid        NOT NULL,
  entity        text        NOT NULL,
  name          text        NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  columns       text[]      NOT NULL DEFAULT '{}',
  filters       jsonb       NOT NULL DEFAULT '{}',
  sort          text,
  shared        text        NOT NULL DEFAULT 'private' CHECK (shared IN ('private', 'department', 'tenant')),
  -- The owner's department when shared with it (kept: the view stays with that department).
  department_id uuid,
  version       integer     NOT NULL DEFAULT 1,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  CHECK (shared <> 'department' OR department_id IS NOT NULL)
);
SELECT huike.enable_tenant_rls('records.saved_views');
-- One name per owner and entity (a second "我的重点客户" would be ambiguous in the menu).
CREATE UNIQUE INDEX saved_views_name ON records.saved_views (tenant_id, owner_id, entity, lower(name));
-- The views a user sees for an entity: their own and the shared ones.
CREATE INDEX saved_views_shared ON records.saved_views (tenant_id, entity, shared) WHERE shared <> 'private';
