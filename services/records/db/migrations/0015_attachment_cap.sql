-- A workspace's own cap on one attachment's size, below the server's HUIKE_ATTACHMENT_MAX_BYTES
-- (null: the server's cap applies).
ALTER TABLE records.settings
  ADD COLUMN attachment_max_bytes bigint CHECK (attachment_max_bytes > 0);
