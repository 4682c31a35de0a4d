-- The names of the attachments of customers, interactions, objections and opportunities, kept from
-- records' attachment.added|removed events (services/search/attachments.py): a record's document
-- carries them in its ``attachments`` field, so a record is found by its files' names. A record's
-- own events do not carry its attachments, so every document built from one takes them from here.
-- ``version``: the attachment event's (added 1, removed 2); an older event never undoes a newer one.
CREATE TABLE search.attachments (
  tenant_id  uuid    NOT NULL,
  id         uuid    NOT NULL,
  type       text    NOT NULL,
  record_id  uuid    NOT NULL,
  name       text    NOT NULL,
  version    integer NOT NULL,
  deleted    boolean NOT NULL DEFAULT false,
  PRIMARY KEY (tenant_id, id)
);
SELECT huike.enable_tenant_rls('search.attachments');
-- A record's live attachments.
CREATE INDEX attachments_record ON search.attachments (tenant_id, type, record_id) WHERE NOT deleted;
