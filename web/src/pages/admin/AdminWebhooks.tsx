import { Alert, Button, Drawer, Form, Input, Modal, Popconfirm, Select, Space, Switch, Table, Tag, Typography } from "antd";
import { useCallback, useEffect, useState } from "react";

import { api, type Schemas } from "../../api/client";
import { useApp } from "../../AppContext";
import { problemText, showProblem } from "../../components/forms";
import type { MessageKey } from "../../i18n/messages";
import { formatDateTime } from "../../lib/format";

type Webhook = Schemas["WebhookOut"];
type Robot = Schemas["RobotOut"];
type Delivery = Schemas["DeliveryOut"];
const DELIVERY_COLORS: Record<string, string> = { succeeded: "green", failed: "red", pending: "gold", cancelled: "default" };
// Suggestions only: the field takes any event type or pattern the API knows (it names a bad one).
const EVENT_SUGGESTIONS = ["*", "customer.*", "customer.created", "customer.updated", "customer.transferred",
  "opportunity.*", "objection.*", "task.*", "approval.*"];
const PLATFORMS = ["dingtalk", "feishu", "wecom"] as const;

/** Webhook 与群机器人: outgoing endpoints (secret shown once, switch, test message, delivery log)
 * and the 钉钉 / 飞书 / 企业微信 group robots. */
export function WebhooksTab() {
  return (
    <>
      <WebhooksSection />
      <RobotsSection />
    </>
  );
}

function WebhooksSection() {
  const { t, locale } = useApp();
  const [items, setItems] = useState<Webhook[] | null>(null);
  const [creating, setCreating] = useState(false);
  const [secret, setSecret] = useState<string | null>(null);
  // A rotation's new secret (shown once) and until when the old one still signs next to it.
  const [rotated, setRotated] = useState<{ url: string; secret: string; oldUntil: string | null } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [formError, setFormError] = useState<string | null>(null);
  const [open, setOpen] = useState<Webhook | null>(null);
  const [form] = Form.useForm();

  const load = useCallback(async () => {
    const { data, error: problem } = await api.GET("/api/v1/webhooks", { params: { query: { limit: 200 } } });
    setItems(data?.items ?? []);
    setError(problemText(problem));
  }, []);
  useEffect(() => { void load(); }, [load]);

  const create = async (values: { url: string; description?: string; events: string[] }) => {
    const { data, error: problem } = await api.POST("/api/v1/webhooks", {
      body: { url: values.url, events: values.events ?? [], description: values.description || null, enabled: true } });
    if (problem) {
      setFormError(showProblem(form, problem, ["url", "events", "description"]));
      return;
    }
    setCreating(false);
    setSecret(data.secret ?? null); // the API answers the signing secret in this answer only
    await load();
  };
  const rotate = async (w: Webhook) => {
    const { data, error: problem } = await api.POST("/api/v1/webhooks/{webhook_id}/rotate-secret", {
      params: { path: { webhook_id: w.id } } });
    setError(problemText(problem));
    if (data?.secret) {
      setSecret(null);
      setRotated({ url: data.url, secret: data.secret, oldUntil: data.previous_secret_expires_at ?? null });
    }
    await load();
  };
  const toggle = async (w: Webhook, enabled: boolean) => {
    const { error: problem } = await api.PATCH("/api/v1/webhooks/{webhook_id}", {
      params: { path: { webhook_id: w.id } }, body: { enabled } });
    setError(problemText(problem));
    await load();
  };
  return (
    <>
      <Space style={{ marginBottom: 12 }}>
        <Typography.Title level={5} style={{ margin: 0 }}>{t("hooks.webhooks")}</Typography.Title>
        <Button type="primary" data-testid="new-webhook"
          onClick={() => { form.resetFields(); setFormError(null); setCreating(true); }}>{t("hooks.newWebhook")}</Button>
      </Space>
      {error && <Alert type="error" showIcon message={error} style={{ marginBottom: 12 }} />}
      {secret && (
        <Alert type="warning" showIcon closable onClose={() => setSecret(null)} style={{ marginBottom: 12 }}
          message={t("hooks.secretOnce")} data-testid="webhook-secret"
          description={<Typography.Text copyable code>{secret}</Typography.Text>} />
      )}
      {rotated && (
        <Alert type="warning" showIcon closable onClose={() => setRotated(null)} style={{ marginBottom: 12 }}
          message={`${t("hooks.newSecretOnce")} · ${rotated.url}`} data-testid="webhook-rotated"
          description={<Space direction="vertical" size={4}>
            <Typography.Text copyable code>{rotated.secret}</Typography.Text>
            {rotated.oldUntil && <span data-testid="old-secret-until">
              {t("hooks.oldSecretUntil")} {formatDateTime(rotated.oldUntil, locale)}</span>}
          </Space>} />
      )}
      <Table<Webhook> rowKey="id" size="small" loading={items === null} dataSource={items ?? []} pagination={false}
        scroll={{ x: "max-content" }} data-testid="webhooks" style={{ marginBottom: 24 }} columns={[
          { title: "URL", dataIndex: "url", render: (u: string) => <code>{u}</code> },
          { title: t("hooks.description"), dataIndex: "description" },
          { title: t("hooks.events"), dataIndex: "events", render: (e: string[]) => e.map((x) => <Tag key={x}>{x}</Tag>) },
          { title: t("workflows.enabled"), key: "en", render: (_v, w) => (
            <Space direction="vertical" size={0}>
              <Switch checked={w.enabled} onChange={(v) => toggle(w, v)} aria-label={`${t("workflows.enabled")} ${w.url}`} />
              {w.disabled_reason && <Typography.Text type="danger">{w.disabled_reason}</Typography.Text>}
            </Space>) },
          { title: "", key: "act", render: (_v, w) => (
            <Space>
              <Button size="small" onClick={() => setOpen(w)}>{t("hooks.deliveries")}</Button>
              <Popconfirm title={t("hooks.rotateConfirm")} okText={t("hooks.rotate")} cancelText={t("common.cancel")}
                onConfirm={() => rotate(w)}>
                <Button size="small" data-testid="webhook-rotate">{t("hooks.rotate")}</Button>
              </Popconfirm>
            </Space>) },
        ]} />
      <Modal open={creating} title={t("hooks.newWebhook")} onCancel={() => setCreating(false)} onOk={() => form.submit()}
        okText={t("common.save")} cancelText={t("common.cancel")}>
        {formError && <Alert type="error" showIcon message={formError} style={{ marginBottom: 12 }} />}
        <Form form={form} layout="vertical" onFinish={create} initialValues={{ events: ["customer.*"] }}>
          <Form.Item name="url" label="URL"><Input placeholder="https://erp.example.com/huike/hook" /></Form.Item>
          <Form.Item name="description" label={t("hooks.description")}><Input /></Form.Item>
          <Form.Item name="events" label={t("hooks.events")}>
            <Select mode="tags" aria-label={t("hooks.events")} options={EVENT_SUGGESTIONS.map((v) => ({ value: v, label: v }))} />
          </Form.Item>
        </Form>
      </Modal>
      <Drawer open={!!open} width={720} onClose={() => setOpen(null)} title={`${t("hooks.deliveries")} · ${open?.url ?? ""}`}
        destroyOnClose>
        {open && <Deliveries locale={locale} webhook={open} />}
      </Drawer>
    </>
  );
}

/** A webhook's (or robot's) delivery log, newest first; a webhook also has "send a test". */
function Deliveries({ webhook, robot, locale }: { webhook?: Webhook; robot?: Robot; locale: ReturnType<typeof useApp>["locale"] }) {
  const { t } = useApp();
  const [items, setItems] = useState<Delivery[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = useCallback(async () => {
    const { data, error: problem } = webhook
      ? await api.GET("/api/v1/webhooks/{webhook_id}/deliveries", { params: { path: { webhook_id: webhook.id }, query: { limit: 50 } } })
      : await api.GET("/api/v1/chat-robots/{robot_id}/deliveries", { params: { path: { robot_id: robot!.id }, query: { limit: 50 } } });
    setItems(data?.items ?? []);
    setError(problemText(problem));
  }, [webhook, robot]);
  useEffect(() => { void load(); }, [load]);
  // Deliveries are sent in the background: while one is pending, look again every few seconds.
  useEffect(() => {
    if (!items?.some((d) => d.status === "pending")) return;
    const timer = window.setTimeout(() => void load(), 3000);
    return () => window.clearTimeout(timer);
  }, [items, load]);

  const ping = async () => {
    const { error: problem } = await api.POST("/api/v1/webhooks/{webhook_id}/ping", { params: { path: { webhook_id: webhook!.id } } });
    setError(problemText(problem));
    await load();
  };
  const [since, setSince] = useState("");
  const [queued, setQueued] = useState<number | null>(null);
  const replaySince = async () => {
    const at = new Date(since); // the browser's local time, sent as an instant
    if (Number.isNaN(at.getTime())) return;
    const { data, error: problem } = await api.POST("/api/v1/webhooks/{webhook_id}/replay", {
      params: { path: { webhook_id: webhook!.id } }, body: { since: at.toISOString() } });
    setError(problemText(problem));
    setQueued(data ? data.queued : null);
    await load();
  };
  const replay = async (d: Delivery) => {
    const { error: problem } = await api.POST("/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/replay", {
      params: { path: { webhook_id: webhook!.id, delivery_id: d.id } } });
    setError(problemText(problem));
    await load();
  };
  return (
    <>
      <Space style={{ marginBottom: 12 }}>
        {webhook && <Button type="primary" onClick={ping} data-testid="webhook-ping">{t("hooks.ping")}</Button>}
        <Button onClick={() => void load()}>{t("hooks.refresh")}</Button>
      </Space>
      {webhook && (
        <Space wrap style={{ marginBottom: 12 }}>
          <label htmlFor="replay-since">{t("hooks.replaySince")}</label>
          <Input id="replay-since" type="datetime-local" value={since} onChange={(e) => setSince(e.target.value)}
            style={{ width: 220 }} data-testid="replay-since" />
          <Button disabled={!since} onClick={replaySince} data-testid="replay-since-submit">{t("hooks.replaySinceButton")}</Button>
          {queued !== null && <Typography.Text type="success" data-testid="replay-queued">
            {t("hooks.replayQueued").replace("{n}", String(queued))}</Typography.Text>}
        </Space>
      )}
      {error && <Alert type="error" showIcon message={error} style={{ marginBottom: 12 }} />}
      <Table<Delivery> rowKey="id" size="small" loading={items === null} dataSource={items ?? []} pagination={false}
        data-testid="deliveries" locale={{ emptyText: t("hooks.noDeliveries") }}
        expandable={{ rowExpandable: (d) => (d.attempt_log ?? []).length > 0, expandedRowRender: (d) => (
          <Table size="small" rowKey="seq" pagination={false} dataSource={d.attempt_log ?? []} columns={[
            { title: t("hooks.attemptAt"), dataIndex: "attempted_at", render: (v: string) => formatDateTime(v, locale) },
            { title: "HTTP", dataIndex: "status_code", render: (v: number | null) => v ?? "—" },
            { title: "ms", dataIndex: "duration_ms" },
            { title: t("hooks.error"), key: "e", render: (_v, a) => a.error ?? a.response_excerpt ?? "" },
          ]} />) }}
        columns={[
          { title: t("hooks.event"), dataIndex: "event_type", render: (v: string) => <code>{v}</code> },
          { title: t("admin.status"), dataIndex: "status", render: (s: string) => (
            <Tag color={DELIVERY_COLORS[s]} data-testid="delivery-status">{t(`hooks.status.${s}` as MessageKey) ?? s}</Tag>) },
          { title: t("hooks.attempts"), dataIndex: "attempts" },
          { title: t("hooks.nextAttempt"), dataIndex: "next_attempt_at", render: (v: string | null) => formatDateTime(v, locale) },
          { title: t("hooks.error"), dataIndex: "last_error", render: (v: string | null) => v && <Typography.Text type="danger">{v}</Typography.Text> },
          { title: t("workflows.started"), dataIndex: "created_at", render: (v: string) => formatDateTime(v, locale) },
          ...(webhook ? [{ title: "", key: "re", render: (_v: unknown, d: Delivery) =>
            <Button size="small" onClick={() => replay(d)}>{t("hooks.replay")}</Button> }] : []),
        ]} />
    </>
  );
}

function RobotsSection() {
  const { t, locale } = useApp();
  const [items, setItems] = useState<Robot[] | null>(null);
  const [creating, setCreating] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [formError, setFormError] = useState<string | null>(null);
  const [open, setOpen] = useState<Robot | null>(null);
  const [form] = Form.useForm();
  const platform = Form.useWatch("platform", form);

  const load = useCallback(async () => {
    const { data, error: problem } = await api.GET("/api/v1/chat-robots", { params: { query: { limit: 200 } } });
    setItems(data?.items ?? []);
    setError(problemText(problem));
  }, []);
  useEffect(() => { void load(); }, [load]);

  const create = async (values: { platform: (typeof PLATFORMS)[number]; name: string; webhook_url: string; events: string[]; secret?: string }) => {
    const { error: problem } = await api.POST("/api/v1/chat-robots", {
      body: { platform: values.platform, name: values.name, webhook_url: values.webhook_url,
        events: values.events ?? [], secret: values.secret || null, enabled: true } });
    if (problem) {
      setFormError(showProblem(form, problem, ["platform", "name", "webhook_url", "events", "secret"]));
      return;
    }
    setCreating(false);
    await load();
  };
  const toggle = async (r: Robot, enabled: boolean) => {
    const { error: problem } = await api.PATCH("/api/v1/chat-robots/{robot_id}", {
      params: { path: { robot_id: r.id } }, body: { enabled } });
    setError(problemText(problem));
    await load();
  };
  return (
    <>
      <Space style={{ marginBottom: 12 }}>
        <Typography.Title level={5} style={{ margin: 0 }}>{t("hooks.robots")}</Typography.Title>
        <Button data-testid="new-robot"
          onClick={() => { form.resetFields(); setFormError(null); setCreating(true); }}>{t("hooks.newRobot")}</Button>
      </Space>
      {error && <Alert type="error" showIcon message={error} style={{ marginBottom: 12 }} />}
      <Table<Robot> rowKey="id" size="small" loading={items === null} dataSource={items ?? []} pagination={false}
        scroll={{ x: "max-content" }} data-testid="robots" columns={[
          { title: t("admin.name"), dataIndex: "name" },
          { title: t("hooks.platform"), dataIndex: "platform", render: (p: string) => t(`hooks.platform.${p}` as MessageKey) ?? p },
          { title: t("hooks.events"), dataIndex: "events", render: (e: string[]) => e.map((x) => <Tag key={x}>{x}</Tag>) },
          { title: t("hooks.signed"), dataIndex: "has_secret", render: (s: boolean) => (s ? "✓" : "") },
          { title: t("workflows.enabled"), key: "en", render: (_v, r) => (
            <Space direction="vertical" size={0}>
              <Switch checked={r.enabled} onChange={(v) => toggle(r, v)} aria-label={`${t("workflows.enabled")} ${r.name}`} />
              {r.disabled_reason && <Typography.Text type="danger">{r.disabled_reason}</Typography.Text>}
            </Space>) },
          { title: "", key: "act", render: (_v, r) => <Button size="small" onClick={() => setOpen(r)}>{t("hooks.deliveries")}</Button> },
        ]} />
      <Modal open={creating} title={t("hooks.newRobot")} onCancel={() => setCreating(false)} onOk={() => form.submit()}
        okText={t("common.save")} cancelText={t("common.cancel")}>
        {formError && <Alert type="error" showIcon message={formError} style={{ marginBottom: 12 }} />}
        <Form form={form} layout="vertical" onFinish={create} initialValues={{ platform: "dingtalk", events: ["customer.*"] }}>
          <Form.Item name="platform" label={t("hooks.platform")}>
            <Select aria-label={t("hooks.platform")} options={PLATFORMS.map((p) => ({ value: p, label: t(`hooks.platform.${p}`) }))} />
          </Form.Item>
          <Form.Item name="name" label={t("admin.name")}><Input placeholder={t("hooks.robotNameExample")} /></Form.Item>
          <Form.Item name="webhook_url" label={t("hooks.robotUrl")}>
            <Input placeholder="https://oapi.dingtalk.com/robot/send?access_token=…" />
          </Form.Item>
          {platform !== "wecom" && (
            <Form.Item name="secret" label={t("hooks.robotSecret")}><Input placeholder={platform === "dingtalk" ? "SEC…" : ""} /></Form.Item>
          )}
          <Form.Item name="events" label={t("hooks.events")}>
            <Select mode="tags" aria-label={t("hooks.events")} options={EVENT_SUGGESTIONS.map((v) => ({ value: v, label: v }))} />
          </Form.Item>
        </Form>
      </Modal>
      <Drawer open={!!open} width={720} onClose={() => setOpen(null)} title={`${t("hooks.deliveries")} · ${open?.name ?? ""}`}
        destroyOnClose>
        {open && <Deliveries locale={locale} robot={open} />}
      </Drawer>
    </>
  );
}
