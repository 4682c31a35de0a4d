import { Alert, Button, Card, Form, InputNumber, Select, Space, Switch, message } from "antd";
import { useCallback, useEffect, useState } from "react";

import { useApp } from "../../AppContext";
import { showProblem } from "../../components/forms";
import { callJson } from "../../lib/imports";

// GET|PATCH /duplicate-rules and /pool/rules answer free-form objects in the OpenAPI document: their shape.
interface DuplicateRules {
  version: number;
  phone: string;
  email: string;
  uscc: string;
  name: string;
  name_threshold: number;
  follows_settings: string[];
}
interface PoolRules {
  version: number;
  enabled: boolean;
  no_interaction_days: number | null;
  no_won_deal_days: number | null;
  warning_days: number;
  cooldown_days: number;
  max_claims_per_day: number | null;
  max_customers_held: number | null;
}
const EXACT_RULES = ["phone", "email", "uscc"] as const;
const ACTIONS = ["block", "warn", "off"] as const;
const POOL_NUMBERS = ["no_interaction_days", "no_won_deal_days", "warning_days", "cooldown_days", "max_claims_per_day",
  "max_customers_held"] as const;
// Empty means "no limit" / "no such rule" for these (the API takes null); the others need a number.
const NULLABLE = new Set(["no_interaction_days", "no_won_deal_days", "max_claims_per_day", "max_customers_held"]);
const SETTINGS = "settings"; // an exact rule that follows the records settings' duplicate_rule (sent as null)

/** 查重与公海规则: the duplicate rules forms warn or block with, and when customers return to the pool. */
export function RulesTab() {
  return (
    <Space direction="vertical" size={16} style={{ width: "100%" }}>
      <DuplicateRulesCard />
      <PoolRulesCard />
    </Space>
  );
}

function patchJson(path: string, version: number, body: unknown) {
  return callJson<unknown>(path, {
    method: "PATCH", headers: { "Content-Type": "application/json", "If-Match": `"${version}"` }, body: JSON.stringify(body) });
}

function DuplicateRulesCard() {
  const { t } = useApp();
  const [rules, setRules] = useState<DuplicateRules | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [form] = Form.useForm();
  const load = useCallback(async () => {
    const { data } = await callJson<DuplicateRules>("/api/v1/duplicate-rules");
    if (!data) return;
    setRules(data);
    form.setFieldsValue({
      ...Object.fromEntries(EXACT_RULES.map((r) => [r, data.follows_settings.includes(r) ? SETTINGS : data[r]])),
      name: data.name, name_threshold: data.name_threshold });
  }, [form]);
  useEffect(() => { void load(); }, [load]);

  const save = async (values: Record<string, string | number>) => {
    const body = { ...Object.fromEntries(EXACT_RULES.map((r) => [r, values[r] === SETTINGS ? null : values[r]])),
      name: values.name, name_threshold: values.name_threshold };
    const { error: problem } = await patchJson("/api/v1/duplicate-rules", rules?.version ?? 0, body);
    if (problem) {
      setError(showProblem(form, problem, [...EXACT_RULES, "name", "name_threshold"]));
      return;
    }
    setError(null);
    void message.success(t("rules.saved"));
    await load();
  };
  const actions = ACTIONS.map((a) => ({ value: a, label: t(`rules.action.${a}`) }));
  return (
    <Card title={t("rules.duplicates")} size="small" loading={rules === null} data-testid="duplicate-rules">
      {error && <Alert type="error" showIcon message={error} style={{ marginBottom: 12 }} />}
      <Form form={form} layout="horizontal" labelCol={{ span: 8 }} wrapperCol={{ span: 10 }} onFinish={save}>
        {EXACT_RULES.map((r) => (
          <Form.Item key={r} name={r} label={t(`rules.field.${r}`)}>
            <Select aria-label={t(`rules.field.${r}`)} options={[...actions, { value: SETTINGS, label: t("rules.action.settings") }]} />
          </Form.Item>
        ))}
        <Form.Item name="name" label={t("rules.field.name")}>
          <Select aria-label={t("rules.field.name")} options={actions} />
        </Form.Item>
        <Form.Item name="name_threshold" label={t("rules.nameThreshold")}>
          <InputNumber step={0.05} aria-label={t("rules.nameThreshold")} />
        </Form.Item>
        <Form.Item wrapperCol={{ offset: 8 }}>
          <Button type="primary" htmlType="submit" data-testid="save-duplicate-rules">{t("rules.save")}</Button>
        </Form.Item>
      </Form>
    </Card>
  );
}

function PoolRulesCard() {
  const { t } = useApp();
  const [rules, setRules] = useState<PoolRules | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [form] = Form.useForm();
  const load = useCallback(async () => {
    const { data } = await callJson<PoolRules>("/api/v1/pool/rules");
    if (!data) return;
    setRules(data);
    form.setFieldsValue(data);
  }, [form]);
  useEffect(() => { void load(); }, [load]);

  const save = async (values: Record<string, number | boolean | null | undefined>) => {
    const body = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, v === undefined ? null : v]));
    const { error: problem } = await patchJson("/api/v1/pool/rules", rules?.version ?? 0, body);
    if (problem) {
      setError(showProblem(form, problem, ["enabled", ...POOL_NUMBERS]));
      return;
    }
    setError(null);
    void message.success(t("rules.saved"));
    await load();
  };
  return (
    <Card title={t("rules.pool")} size="small" loading={rules === null} data-testid="pool-rules">
      {error && <Alert type="error" showIcon message={error} style={{ marginBottom: 12 }} />}
      <Form form={form} layout="horizontal" labelCol={{ span: 8 }} wrapperCol={{ span: 10 }} onFinish={save}>
        <Form.Item name="enabled" label={t("rules.pool.enabled")} valuePropName="checked">
          <Switch aria-label={t("rules.pool.enabled")} />
        </Form.Item>
        {POOL_NUMBERS.map((k) => (
          <Form.Item key={k} name={k} label={t(`rules.pool.${k}`)}>
            <InputNumber aria-label={t(`rules.pool.${k}`)} style={{ width: 160 }}
              placeholder={NULLABLE.has(k) ? t("rules.pool.unlimited") : undefined} />
          </Form.Item>
        ))}
        <Form.Item wrapperCol={{ offset: 8 }}>
          <Button type="primary" htmlType="submit" data-testid="save-pool-rules">{t("rules.save")}</Button>
        </Form.Item>
      </Form>
    </Card>
  );
}
