-- Attachments on customers, interactions, objections and opportunities (call recordings, photos,
-- contracts). The bytes live in the file store (services/records/storage.py: records.files by
-- default) under ``file_key``; this row says whose they are. An attachment is reachable only through
-- its record: a soft-deleted record hides its attachments and a restore brings them back; a record
-- purged for good takes them (and their bytes) with it (jobs.py). ``deleted_at`` is the attachment's
-- own deletion (DELETE /attachments/{id}); the purge removes its bytes 30 days later.
CREATE TABLE records.attachments (
  tenant_id    uuid        NOT NULL,
  id           uuid        NOT NULL,
  entity       text        NOT NULL CHECK (entity IN ('customer', 'interaction', 'objection', 'opportunity')),
  record_id    uuid        NOT NULL,
  -- The record's customer (the record itself for a customer): the timeline reads attachments by it.
  customer_id  uuid        NOT NULL,
  name         text        NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
  size         bigint      NOT NULL CHECK (size >= 0),
  content_type text        NOT NULL,
  file_key     text        NOT NULL,
  created_by   uuid,
  created_at   timestamptz NOT NULL DEFAULT now(),
  deleted_at   timestamptz,
  deleted_by   uuid,
  PRIMARY KEY (tenant_id, id)
);
SELECT huike.enable_tenant_rls('records.attachments');
-- A record's attachments, newest first.
CREATE INDEX attachments_record ON records.attachments (tenant_id, entity, record_id, created_at DESC, id DESC)
  WHERE deleted_at IS NULL;
-- The customer's timeline (added and removed items), and the purge's sweep of purged records.
CREATE INDEX attachments_customer ON records.attachments (tenant_id, customer_id, created_at);
