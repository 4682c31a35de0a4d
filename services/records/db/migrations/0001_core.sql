-- Records core: settings, directory mirror, custom fields, field history, audit log, idempotency
-- keys, customers and contacts. Every tenant-owned table: tenant_id first in the primary key and
-- in every index, forced row-level security.

-- btree_gin lets a GIN index lead with tenant_id (uuid) before tags / custom_fields. It is a
-- trusted extension (PostgreSQL 13+): a database owner with CREATE on the database may create it.
CREATE EXTENSION IF NOT EXISTS btree_gin;

-- Tenants records has heard of (from identity events and from its own writes). Not under RLS: the
-- purge job walks it to open one tenant unit after another. It holds ids only.
CREATE TABLE records.tenants (
  id         uuid PRIMARY KEY,
  first_seen timestamptz NOT NULL DEFAULT now()
);

-- The tenant's records settings: one row, created with the defaults on first use.
CREATE TABLE records.settings (
  tenant_id            uuid PRIMARY KEY,
  default_region       text NOT NULL DEFAULT 'CN',
  required_fields      jsonb NOT NULL DEFAULT '{}',   -- {"customer": ["industry", ...], ...}
  sensitive_fields     jsonb NOT NULL DEFAULT '{}',   -- {"customer": ["phones", ...], ...}
  objection_categories jsonb NOT NULL DEFAULT '["price", "quality", "delivery", "service", "contract", "competitor", "other"]',
  objection_sla_hours  jsonb NOT NULL DEFAULT '{"low": 120, "medium": 48, "high": 24, "critical": 4}',
  duplicate_rule       text NOT NULL DEFAULT 'warn' CHECK (duplicate_rule IN ('warn', 'block')),
  version              integer NOT NULL DEFAULT 1,
  updated_at           timestamptz NOT NULL DEFAULT now(),
  updated_by           uuid
);
SELECT huike.enable_tenant_rls('records.settings');

-- Mirror of identity's users and departments, kept by the directory consumer (directory.py).
CREATE TABLE records.directory_users (
  tenant_id     uuid NOT NULL,
  id            uuid NOT NULL,
  department_id uuid,
  name          text NOT NULL DEFAULT '',
  email         text NOT NULL DEFAULT '',
  status        text NOT NULL DEFAULT 'active',
  updated_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);
SELECT huike.enable_tenant_rls('records.directory_users');
CREATE INDEX directory_users_department ON records.directory_users (tenant_id, department_id);

CREATE TABLE records.directory_departments (
  tenant_id  uuid NOT NULL,
  id         uuid NOT NULL,
  parent_id  uuid,
  path       text NOT NULL,   -- ids from the root, "<root>/<child>/...", as identity keeps it
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);
SELECT huike.enable_tenant_rls('records.directory_departments');
CREATE INDEX directory_departments_path ON records.directory_departments (tenant_id, path text_pattern_ops);

-- Custom field definitions. Values live in each record's custom_fields jsonb under the immutable key.
CREATE TABLE records.custom_fields (
  tenant_id     uuid NOT NULL,
  id            uuid NOT NULL,
  entity        text NOT NULL,
  key           text NOT NULL,
  label         text NOT NULL,
  type          text NOT NULL CHECK (type IN ('text', 'long_text', 'number', 'decimal', 'date', 'datetime', 'boolean',
                                               'single_select', 'multi_select', 'phone', 'email', 'url', 'user')),
  required      boolean NOT NULL DEFAULT false,
  is_unique     boolean NOT NULL DEFAULT false,
  options       jsonb NOT NULL DEFAULT '[]',       -- [{"key", "label"}] for selects
  validation    jsonb NOT NULL DEFAULT '{}',       -- min_length, max_length, min, max, pattern
  default_value jsonb,
  description   text NOT NULL DEFAULT '',
  position      integer NOT NULL DEFAULT 0,
  status        text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'retired')),
  version       integer NOT NULL DEFAULT 1,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  created_by    uuid,
  updated_by    uuid,
  PRIMARY KEY (tenant_id, id)
);
SELECT huike.enable_tenant_rls('records.custom_fields');
CREATE UNIQUE INDEX custom_fields_key ON records.custom_fields (tenant_id, entity, key);
CREATE INDEX custom_fields_list ON records.custom_fields (tenant_id, entity, position, id);

-- Values of custom fields marked unique: the primary key makes the database refuse a second
-- record with the same (normalised) value. Rows stay while the record exists (soft-deleted included).
CREATE TABLE records.custom_field_unique_values (
  tenant_id uuid NOT NULL,
  entity    text NOT NULL,
  field_key text NOT NULL,
  value     text NOT NULL,
  record_id uuid NOT NULL,
  PRIMARY KEY (tenant_id, entity, field_key, value)
);
SELECT huike.enable_tenant_rls('records.custom_field_unique_values');
CREATE INDEX custom_field_unique_values_record ON records.custom_field_unique_values (tenant_id, record_id);

-- Field history: one row per changed field of any records entity.
CREATE TABLE records.field_history (
  tenant_id   uuid NOT NULL,
  id          bigint GENERATED ALWAYS AS IDENTITY,
  entity      text NOT NULL,
  record_id   uuid NOT NULL,
  customer_id uuid,
  changed_at  timestamptz NOT NULL DEFAULT now(),
  actor_kind  text NOT NULL,
  actor_id    text,
  field       text NOT NULL,
  old         jsonb,
  new         jsonb,
  PRIMARY KEY (tenant_id, id)
);
SELECT huike.enable_tenant_rls('records.field_history');
CREATE INDEX field_history_record ON records.field_history (tenant_id, entity, record_id, changed_at DESC, id DESC);
CREATE INDEX field_history_customer ON records.field_history (tenant_id, customer_id, changed_at DESC, id DESC);

-- Audit log of the records service (reads of sensitive fields, exports, ...). Append-only: see
-- db/grants.sql (no UPDATE/DELETE for the runtime role) and the trigger (nobody, owner included).
CREATE TABLE records.audit_log (
  tenant_id   uuid NOT NULL,
  id          bigint GENERATED ALWAYS AS IDENTITY,
  occurred_at timestamptz NOT NULL DEFAULT now(),
  actor_kind  text NOT NULL,
  actor_id    text,
  action      text NOT NULL,          -- e.g. customer.sensitive_read
  entity      text NOT NULL,
  record_id   uuid,
  details     jsonb NOT NULL DEFAULT '{}',
  PRIMARY KEY (tenant_id, id)
);
SELECT huike.enable_tenant_rls('records.audit_log');
CREATE INDEX audit_log_time ON records.audit_log (tenant_id, occurred_at DESC, id DESC);
CREATE INDEX audit_log_record ON records.audit_log (tenant_id, entity, record_id, occurred_at DESC);
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON records.audit_log
  FOR EACH ROW EXECUTE FUNCTION huike.reject_change();

-- Idempotency-Key answers of POSTs, kept 24 hours.
CREATE TABLE records.idempotency_keys (
  tenant_id     uuid NOT NULL,
  key           text NOT NULL,
  principal     text NOT NULL,
  request_hash  text NOT NULL,
  status        integer NOT NULL,
  body          jsonb NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, key)
);
SELECT huike.enable_tenant_rls('records.idempotency_keys');
CREATE INDEX idempotency_keys_age ON records.idempotency_keys (tenant_id, created_at);

-- Customers.
CREATE TABLE records.customers (
  tenant_id           uuid NOT NULL,
  id                  uuid NOT NULL,
  version             integer NOT NULL DEFAULT 1,
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now(),
  created_by          uuid,
  updated_by          uuid,
  deleted_at          timestamptz,
  owner_id            uuid,
  department_id       uuid,
  name                text NOT NULL,
  aliases             text[] NOT NULL DEFAULT '{}',
  kind                text NOT NULL DEFAULT 'company' CHECK (kind IN ('company', 'person')),
  uscc                text,
  phones              jsonb NOT NULL DEFAULT '[]',   -- [{"value": E.164, "label", "primary"}]
  emails              jsonb NOT NULL DEFAULT '[]',
  primary_phone       text,                          -- normalised primary, for duplicate look-ups
  primary_email       text,
  website             text,
  industry            text,
  address             text,
  source              text,
  lifecycle_stage     text NOT NULL DEFAULT 'lead'
                      CHECK (lifecycle_stage IN ('lead', 'prospect', 'customer', 'loyal', 'churned')),
  tier                text,
  tags                text[] NOT NULL DEFAULT '{}',
  custom_fields       jsonb NOT NULL DEFAULT '{}',
  last_interaction_at timestamptz,
  next_follow_up_at   timestamptz,
  PRIMARY KEY (tenant_id, id)
);
SELECT huike.enable_tenant_rls('records.customers');
-- Sorts (keyset on (sort, id)); nullable times sort as year 1, matching the API's expression.
CREATE INDEX customers_created ON records.customers (tenant_id, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX customers_updated ON records.customers (tenant_id, updated_at, id) WHERE deleted_at IS NULL;
CREATE INDEX customers_name ON records.customers (tenant_id, name, id) WHERE deleted_at IS NULL;
CREATE INDEX customers_last_interaction ON records.customers
  (tenant_id, (coalesce(last_interaction_at, '0001-01-01 00:00:00+00'::timestamptz)), id) WHERE deleted_at IS NULL;
CREATE INDEX customers_next_follow_up ON records.customers
  (tenant_id, (coalesce(next_follow_up_at, '0001-01-01 00:00:00+00'::timestamptz)), id) WHERE deleted_at IS NULL;
-- Filters and data scopes.
CREATE INDEX customers_owner ON records.customers (tenant_id, owner_id, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX customers_department ON records.customers (tenant_id, department_id, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX customers_stage ON records.customers (tenant_id, lifecycle_stage, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX customers_tier ON records.customers (tenant_id, tier, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX customers_follow_up_due ON records.customers (tenant_id, next_follow_up_at) WHERE deleted_at IS NULL;
CREATE INDEX customers_no_interaction ON records.customers (tenant_id, last_interaction_at) WHERE deleted_at IS NULL;
CREATE INDEX customers_tags ON records.customers USING gin (tenant_id, tags) WHERE deleted_at IS NULL;
CREATE INDEX customers_custom_fields ON records.customers USING gin (tenant_id, custom_fields jsonb_path_ops)
  WHERE deleted_at IS NULL;
-- Duplicate look-ups and the purge.
CREATE INDEX customers_primary_phone ON records.customers (tenant_id, primary_phone) WHERE primary_phone IS NOT NULL;
CREATE INDEX customers_primary_email ON records.customers (tenant_id, primary_email) WHERE primary_email IS NOT NULL;
CREATE INDEX customers_uscc ON records.customers (tenant_id, uscc) WHERE uscc IS NOT NULL;
CREATE INDEX customers_deleted ON records.customers (tenant_id, deleted_at) WHERE deleted_at IS NOT NULL;

-- Contacts of a customer. owner_id / department_id follow the customer's.
CREATE TABLE records.contacts (
  tenant_id      uuid NOT NULL,
  id             uuid NOT NULL,
  version        integer NOT NULL DEFAULT 1,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  created_by     uuid,
  updated_by     uuid,
  deleted_at     timestamptz,
  owner_id       uuid,
  department_id  uuid,
  customer_id    uuid NOT NULL,
  name           text NOT NULL,
  title          text,
  role_in_deal   text CHECK (role_in_deal IN ('decision_maker', 'influencer', 'user', 'champion', 'gatekeeper', 'other')),
  phones         jsonb NOT NULL DEFAULT '[]',
  emails         jsonb NOT NULL DEFAULT '[]',
  primary_phone  text,
  primary_email  text,
  custom_fields  jsonb NOT NULL DEFAULT '{}',
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, customer_id) REFERENCES records.customers (tenant_id, id) ON DELETE CASCADE
);
SELECT huike.enable_tenant_rls('records.contacts');
CREATE INDEX contacts_created ON records.contacts (tenant_id, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX contacts_updated ON records.contacts (tenant_id, updated_at, id) WHERE deleted_at IS NULL;
CREATE INDEX contacts_name ON records.contacts (tenant_id, name, id) WHERE deleted_at IS NULL;
CREATE INDEX contacts_customer ON records.contacts (tenant_id, customer_id, created_at, id);
CREATE INDEX contacts_owner ON records.contacts (tenant_id, owner_id, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX contacts_department ON records.contacts (tenant_id, department_id, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX contacts_custom_fields ON records.contacts USING gin (tenant_id, custom_fields jsonb_path_ops)
  WHERE deleted_at IS NULL;
CREATE INDEX contacts_primary_phone ON records.contacts (tenant_id, primary_phone) WHERE primary_phone IS NOT NULL;
CREATE INDEX contacts_primary_email ON records.contacts (tenant_id, primary_email) WHERE primary_email IS NOT NULL;
CREATE INDEX contacts_deleted ON records.contacts (tenant_id, deleted_at) WHERE deleted_at IS NOT NULL;
