-- Fixed-window request counters for sign-up and password-reset requests (per source address and
-- per account). Shared by every replica; no tenant (counted before one is known), so no RLS, like
-- login_failures. Rows are forgotten by the hourly housekeeping once their window is long over.
CREATE TABLE identity.rate_counters (
  key               text PRIMARY KEY,   -- "signup:ip:<address>", "reset:ip:<address>", "reset:account:<slug>:<email>"
  hits              integer NOT NULL,
  window_started_at timestamptz NOT NULL
);
