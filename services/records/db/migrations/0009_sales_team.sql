-- What a sales team's day found (issue 13).

-- Customers without a next follow-up sort last in both directions: ascending on
-- coalesce(next_follow_up_at, 9999-12-31), descending on coalesce(next_follow_up_at, 0001-01-02).
-- The year-1 sentinel moves from 1 to 2 January (last_interaction_at too): asyncpg sends
-- datetime.min back as '-infinity', so a cursor over customers without a time skipped the rest.
DROP INDEX records.customers_last_interaction;
DROP INDEX records.customers_next_follow_up;
DROP INDEX records.customers_owner_last_interaction;
DROP INDEX records.customers_owner_next_follow_up;
CREATE INDEX customers_last_interaction ON records.customers
  (tenant_id, (coalesce(last_interaction_at, '0001-01-02 00:00:00+00'::timestamptz)), id) WHERE deleted_at IS NULL;
CREATE INDEX customers_next_follow_up ON records.customers
  (tenant_id, (coalesce(next_follow_up_at, '0001-01-02 00:00:00+00'::timestamptz)), id) WHERE deleted_at IS NULL;
CREATE INDEX customers_owner_last_interaction ON records.customers
  (tenant_id, owner_id, (coalesce(last_interaction_at, '0001-01-02 00:00:00+00'::timestamptz)), id)
  WHERE deleted_at IS NULL;
CREATE INDEX customers_owner_next_follow_up ON records.customers
  (tenant_id, owner_id, (coalesce(next_follow_up_at, '0001-01-02 00:00:00+00'::timestamptz)), id)
  WHERE deleted_at IS NULL;
CREATE INDEX customers_next_follow_up_last ON records.customers
  (tenant_id, (coalesce(next_follow_up_at, '9999-12-31 00:00:00+00'::timestamptz)), id)
  WHERE deleted_at IS NULL;
CREATE INDEX customers_owner_next_follow_up_last ON records.customers
  (tenant_id, owner_id, (coalesce(next_follow_up_at, '9999-12-31 00:00:00+00'::timestamptz)), id)
  WHERE deleted_at IS NULL;

-- Tasks and objections without a due time, opportunities without a close date or amount: last in
-- both directions too (the descending expressions; the ascending ones have their indexes).
CREATE INDEX tasks_due_descending ON records.tasks
  (tenant_id, (coalesce(due_at, '0001-01-02 00:00:00+00'::timestamptz)), id) WHERE deleted_at IS NULL;
CREATE INDEX objections_due_descending ON records.objections
  (tenant_id, (coalesce(due_at, '0001-01-02 00:00:00+00'::timestamptz)), id) WHERE deleted_at IS NULL;
CREATE INDEX opportunities_close_date_descending ON records.opportunities
  (tenant_id, coalesce(expected_close_date, '-infinity'::date), id) WHERE deleted_at IS NULL;
CREATE INDEX opportunities_amount_descending ON records.opportunities
  (tenant_id, coalesce(amount, '-Infinity'::numeric), id) WHERE deleted_at IS NULL;

-- The tenant's time zone: reports count days and ISO weeks in it.
ALTER TABLE records.settings ADD COLUMN time_zone text NOT NULL DEFAULT 'Asia/Shanghai';

-- Objection categories, interaction channels and customer tiers become option lists a tenant
-- configures: [{"key": "price", "labels": {"zh-CN": "价格", "en": "Price"}}, ...]. Records keep
-- storing the key. Existing tenants keep every category they list or use (labelled with itself
-- when it has no known label) and get every channel there was; tiers stay free text (an empty
-- list) until a tenant lists them. All stored data stays valid.
CREATE TEMPORARY TABLE known_labels (list text, key text, zh text, en text, position int) ON COMMIT DROP;
INSERT INTO known_labels VALUES
  ('category', 'price', '价格', 'Price', 1), ('category', 'quality', '质量', 'Quality', 2),
  ('category', 'delivery', '交付', 'Delivery', 3), ('category', 'service', '服务', 'Service', 4),
  ('category', 'product', '产品', 'Product', 5), ('category', 'contract', '合同', 'Contract', 6),
  ('category', 'competitor', '竞品', 'Competitor', 7), ('category', 'other', '其他', 'Other', 8),
  ('channel', 'phone', '电话', 'Phone', 1), ('channel', 'email', '邮件', 'E-mail', 2),
  ('channel', 'wechat', '微信', 'WeChat', 3), ('channel', 'visit', '拜访', 'Visit', 4),
  ('channel', 'meeting', '会议', 'Meeting', 5), ('channel', 'form', '表单', 'Form', 6),
  ('channel', 'sms', '短信', 'SMS', 7), ('channel', 'dingtalk', '钉钉', 'DingTalk', 8),
  ('channel', 'wecom', '企业微信', 'WeCom', 9), ('channel', 'feishu', '飞书', 'Feishu', 10),
  ('channel', 'other', '其他', 'Other', 11);

ALTER TABLE records.settings ADD COLUMN interaction_channels jsonb NOT NULL DEFAULT '[]';
ALTER TABLE records.settings ADD COLUMN customer_tiers jsonb NOT NULL DEFAULT '[]';
ALTER TABLE records.interactions DROP CONSTRAINT IF EXISTS interactions_channel_check;

ALTER TABLE records.settings NO FORCE ROW LEVEL SECURITY;
ALTER TABLE records.objections NO FORCE ROW LEVEL SECURITY;
-- Tenants that hold categories without a settings row yet get one.
INSERT INTO records.settings (tenant_id) SELECT DISTINCT tenant_id FROM records.objections ON CONFLICT DO NOTHING;
UPDATE records.settings s SET
  objection_categories = coalesce((
    SELECT jsonb_agg(jsonb_build_object('key', k.key, 'labels',
             jsonb_build_object('zh-CN', coalesce(l.zh, k.key), 'en', coalesce(l.en, k.key))) ORDER BY k.position, k.key)
    FROM (SELECT e.key, min(e.position) AS position FROM (
            SELECT c.value AS key, c.ordinality AS position
            FROM jsonb_array_elements_text(s.objection_categories) WITH ORDINALITY AS c(value, ordinality)
            UNION ALL
            SELECT DISTINCT o.category, 1000 FROM records.objections o WHERE o.tenant_id = s.tenant_id) e
          GROUP BY e.key) k
    LEFT JOIN known_labels l ON l.list = 'category' AND l.key = k.key), '[]'),
  interaction_channels = (
    SELECT jsonb_agg(jsonb_build_object('key', l.key, 'labels', jsonb_build_object('zh-CN', l.zh, 'en', l.en))
                     ORDER BY l.position)
    FROM known_labels l WHERE l.list = 'channel');
ALTER TABLE records.settings FORCE ROW LEVEL SECURITY;
ALTER TABLE records.objections FORCE ROW LEVEL SECURITY;

-- New tenants start with these lists.
ALTER TABLE records.settings ALTER COLUMN objection_categories SET DEFAULT
  '[{"key": "price", "labels": {"zh-CN": "价格", "en": "Price"}},
    {"key": "quality", "labels": {"zh-CN": "质量", "en": "Quality"}},
    {"key": "delivery", "labels": {"zh-CN": "交付", "en": "Delivery"}},
    {"key": "service", "labels": {"zh-CN": "服务", "en": "Service"}},
    {"key": "product", "labels": {"zh-CN": "产品", "en": "Product"}},
    {"key": "other", "labels": {"zh-CN": "其他", "en": "Other"}}]';
ALTER TABLE records.settings ALTER COLUMN interaction_channels SET DEFAULT
  '[{"key": "phone", "labels": {"zh-CN": "电话", "en": "Phone"}},
    {"key": "email", "labels": {"zh-CN": "邮件", "en": "E-mail"}},
    {"key": "wechat", "labels": {"zh-CN": "微信", "en": "WeChat"}},
    {"key": "visit", "labels": {"zh-CN": "拜访", "en": "Visit"}},
    {"key": "meeting", "labels": {"zh-CN": "会议", "en": "Meeting"}},
    {"key": "form", "labels": {"zh-CN": "表单", "en": "Form"}},
    {"key": "sms", "labels": {"zh-CN": "短信", "en": "SMS"}},
    {"key": "dingtalk", "labels": {"zh-CN": "钉钉", "en": "DingTalk"}},
    {"key": "wecom", "labels": {"zh-CN": "企业微信", "en": "WeCom"}},
    {"key": "feishu", "labels": {"zh-CN": "飞书", "en": "Feishu"}},
    {"key": "other", "labels": {"zh-CN": "其他", "en": "Other"}}]';


-- An import's rows skipped as duplicates are kept beside its failed rows (same retention), with
-- the stored record or earlier row they duplicate and the rule that matched, so nothing is
-- dropped without a trace (GET /imports/{id}/skipped).
ALTER TABLE records.import_errors
  ADD COLUMN outcome text NOT NULL DEFAULT 'failed' CHECK (outcome IN ('failed', 'skipped')),
  ADD COLUMN rule text,
  ADD COLUMN matched_id uuid,
  ADD COLUMN matched_row integer;

-- A merge also merges the survivor's contacts that are one person; what it did, for the undo:
-- [{"kept": id, "before": {columns of the kept contact}, "merged": [ids]}].
ALTER TABLE records.merges ADD COLUMN contact_merges jsonb NOT NULL DEFAULT '[]';
