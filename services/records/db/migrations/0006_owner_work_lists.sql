-- A salesperson's lists: their own customers (the "own" data scope adds owner_id = caller to every
-- list) sorted by last interaction or next follow-up. Without these the planner reads all of an
-- owner's customers and sorts them (bench/records_bench.py: ~100 ms a page at 20k customers per
-- owner; 0.2-0.4 ms with the index).
CREATE INDEX customers_owner_last_interaction ON records.customers
  (tenant_id, owner_id, (coalesce(last_interaction_at, '0001-01-01 00:00:00+00'::timestamptz)), id)
  WHERE deleted_at IS NULL;
CREATE INDEX customers_owner_next_follow_up ON records.customers
  (tenant_id, owner_id, (coalesce(next_follow_up_at, '0001-01-01 00:00:00+00'::timestamptz)), id)
  WHERE deleted_at IS NULL;
