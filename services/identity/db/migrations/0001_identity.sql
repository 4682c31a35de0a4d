-- Identity: tenants, users, departments, roles, sessions, API keys, invitations, audit log.

-- Tenants are the registry of workspaces, read before any tenant is known (login by slug), so this
-- one table is not under row-level security; the runtime role may read it and update status only
-- through the service's code paths.
CREATE TABLE identity.tenants (
  id                    uuid PRIMARY KEY,
  slug                  text NOT NULL UNIQUE,
  name                  text NOT NULL,
  status                text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended', 'pending_deletion', 'deleted')),
  status_reason         text,
  deletion_scheduled_at timestamptz,
  default_region        text NOT NULL DEFAULT 'CN',
  created_at            timestamptz NOT NULL DEFAULT now(),
  updated_at            timestamptz NOT NULL DEFAULT now(),
  version               integer NOT NULL DEFAULT 1
);

CREATE INDEX tenants_created ON identity.tenants (created_at, id);

CREATE TABLE identity.departments (
  tenant_id   uuid NOT NULL,
  id          uuid NOT NULL,
  parent_id   uuid,
  name        text NOT NULL,
  -- materialised path of ids from the root ("<root>/<child>/..."), for "department and below"
  path        text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  version     integer NOT NULL DEFAULT 1,
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, parent_id) REFERENCES identity.departments (tenant_id, id)
);
CREATE INDEX departments_path ON identity.departments (tenant_id, path text_pattern_ops);
CREATE UNIQUE INDEX departments_sibling_name ON identity.departments (tenant_id, coalesce(parent_id, '00000000-0000-0000-0000-000000000000'::uuid), lower(name));

CREATE TABLE identity.roles (
  tenant_id   uuid NOT NULL,
  id          uuid NOT NULL,
  key         text NOT NULL,            -- admin, manager, sales, support, read_only, or a tenant's own
  name        text NOT NULL,
  description text NOT NULL DEFAULT '',
  builtin     boolean NOT NULL DEFAULT false,
  -- {"customer": {"actions": ["read", ...], "scope": "own|department|all"}, ...}
  permissions jsonb NOT NULL DEFAULT '{}',
  -- {"customer": {"phone": "hidden", "tier": "read_only"}, ...}
  field_rules jsonb NOT NULL DEFAULT '{}',
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  version     integer NOT NULL DEFAULT 1,
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, key)
);

CREATE TABLE identity.users (
  tenant_id        uuid NOT NULL,
  id               uuid NOT NULL,
  email            text NOT NULL,       -- normalised: trimmed, lower-case
  name             text NOT NULL,
  phone            text,                -- E.164
  password_hash    text,                -- argon2id; NULL until an invitation is accepted
  status           text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'deactivated')),
  department_id    uuid,
  locale           text NOT NULL DEFAULT 'zh-CN',
  last_login_at    timestamptz,
  deactivated_at   timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  version          integer NOT NULL DEFAULT 1,
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, email),
  FOREIGN KEY (tenant_id, department_id) REFERENCES identity.departments (tenant_id, id)
);
CREATE INDEX users_department ON identity.users (tenant_id, department_id);
CREATE INDEX users_status_created ON identity.users (tenant_id, status, created_at, id);

CREATE TABLE identity.user_roles (
  tenant_id uuid NOT NULL,
  user_id   uuid NOT NULL,
  role_id   uuid NOT NULL,
  PRIMARY KEY (tenant_id, user_id, role_id),
  FOREIGN KEY (tenant_id, user_id) REFERENCES identity.users (tenant_id, id) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, role_id) REFERENCES identity.roles (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX user_roles_role ON identity.user_roles (tenant_id, role_id);

-- A session is one refresh-token family. Each refresh rotates the token; presenting an old one
-- again (reuse) revokes the whole family.
CREATE TABLE identity.sessions (
  tenant_id        uuid NOT NULL,
  id               uuid NOT NULL,
  user_id          uuid NOT NULL,
  current_token_hash text NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT now(),
  last_used_at     timestamptz NOT NULL DEFAULT now(),
  expires_at       timestamptz NOT NULL,
  revoked_at       timestamptz,
  revoked_reason   text,
  user_agent       text,
  source_ip        inet,
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, user_id) REFERENCES identity.users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX sessions_user ON identity.sessions (tenant_id, user_id);
-- Every refresh token ever issued in a family, so a reused one is recognised.
CREATE TABLE identity.refresh_tokens (
  tenant_id   uuid NOT NULL,
  token_hash  text NOT NULL,
  session_id  uuid NOT NULL,
  issued_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, token_hash),
  FOREIGN KEY (tenant_id, session_id) REFERENCES identity.sessions (tenant_id, id) ON DELETE CASCADE
);
-- The refresh token itself names its tenant only through this lookup (tokens are opaque), so the
-- hash -> tenant map lives outside RLS, holding no personal data.
CREATE TABLE identity.refresh_token_index (
  token_hash text PRIMARY KEY,
  tenant_id  uuid NOT NULL
);

CREATE TABLE identity.api_keys (
  tenant_id    uuid NOT NULL,
  id           uuid NOT NULL,
  user_id      uuid NOT NULL,           -- acts with this user's permissions, narrowed by scopes
  name         text NOT NULL,
  key_prefix   text NOT NULL,           -- first characters, shown in lists to recognise a key
  key_hash     text NOT NULL,
  scopes       text[] NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz,
  expires_at   timestamptz,
  revoked_at   timestamptz,
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, user_id) REFERENCES identity.users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX api_keys_created ON identity.api_keys (tenant_id, created_at, id);
CREATE INDEX api_keys_user ON identity.api_keys (tenant_id, user_id);
-- As for refresh tokens: an API key is looked up by its hash before its tenant is known.
CREATE TABLE identity.api_key_index (
  key_hash  text PRIMARY KEY,
  tenant_id uuid NOT NULL,
  key_id    uuid NOT NULL
);

CREATE TABLE identity.invitations (
  tenant_id    uuid NOT NULL,
  id           uuid NOT NULL,
  email        text NOT NULL,
  name         text NOT NULL DEFAULT '',
  role_ids     uuid[] NOT NULL DEFAULT '{}',
  department_id uuid,
  token_hash   text NOT NULL,
  invited_by   uuid,
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz NOT NULL,
  accepted_at  timestamptz,
  revoked_at   timestamptz,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX invitations_email ON identity.invitations (tenant_id, email);
CREATE INDEX invitations_created ON identity.invitations (tenant_id, created_at, id);
CREATE TABLE identity.invitation_index (
  token_hash text PRIMARY KEY,
  tenant_id  uuid NOT NULL
);

CREATE TABLE identity.password_resets (
  tenant_id   uuid NOT NULL,
  token_hash  text NOT NULL,
  user_id     uuid NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz NOT NULL,
  used_at     timestamptz,
  PRIMARY KEY (tenant_id, token_hash),
  FOREIGN KEY (tenant_id, user_id) REFERENCES identity.users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX password_resets_user ON identity.password_resets (tenant_id, user_id);
CREATE TABLE identity.password_reset_index (
  token_hash text PRIMARY KEY,
  tenant_id  uuid NOT NULL
);

-- Failed logins, for lockout with back-off per account and per source address. Keyed before a
-- tenant is verified, so outside RLS; rows expire after the longest lockout window.
CREATE TABLE identity.login_failures (
  key          text PRIMARY KEY,        -- "account:<tenant>:<email>" or "ip:<address>"
  failures     integer NOT NULL DEFAULT 0,
  first_failed_at timestamptz NOT NULL DEFAULT now(),
  last_failed_at  timestamptz NOT NULL DEFAULT now(),
  locked_until timestamptz
);

-- Append-only security audit log: INSERT and SELECT only (see grants.sql), and a trigger that
-- rejects UPDATE and DELETE from anyone, the owner included.
CREATE TABLE identity.audit_log (
  tenant_id   uuid NOT NULL,
  id          bigint GENERATED ALWAYS AS IDENTITY,
  occurred_at timestamptz NOT NULL DEFAULT now(),
  actor_kind  text NOT NULL,            -- user, api_key, system, operator, anonymous
  actor_id    text,
  action      text NOT NULL,            -- login.succeeded, login.failed, api_key.created, ...
  target_type text,
  target_id   text,
  source_ip   inet,
  details     jsonb NOT NULL DEFAULT '{}',
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX audit_log_time ON identity.audit_log (tenant_id, occurred_at DESC, id DESC);
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON identity.audit_log
  FOR EACH ROW EXECUTE FUNCTION huike.reject_change();

SELECT huike.enable_tenant_rls(t) FROM unnest(ARRAY[
  'identity.departments', 'identity.roles', 'identity.users', 'identity.user_roles', 'identity.sessions',
  'identity.refresh_tokens', 'identity.api_keys', 'identity.invitations', 'identity.password_resets',
  'identity.audit_log'
]::regclass[]) AS t;
