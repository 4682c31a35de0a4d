import { Alert, Button, Checkbox, Form, Input, Modal, Select, Space, Table, Tag, Typography } from "antd";
import { useCallback, useEffect, useState } from "react";

import { api, type Schemas } from "../../api/client";
import { useApp } from "../../AppContext";
import { problemText, showProblem } from "../../components/forms";
import type { MessageKey } from "../../i18n/messages";
import { formatDateTime } from "../../lib/format";
import { callJson } from "../../lib/imports";
import { nameOf, useUsers } from "../../lib/users";

type CustomField = Schemas["CustomFieldOut"];

const FIELD_TYPES = ["text", "long_text", "number", "decimal", "date", "datetime", "boolean", "single_select",
  "multi_select", "phone", "email", "url", "user"] as const;
const RECORD_ENTITIES = ["customer", "contact", "interaction", "objection", "task", "opportunity"] as const;

export function CustomFieldsTab() {
  const { t } = useApp();
  const [entity, setEntity] = useState<string>("customer");
  const [items, setItems] = useState<CustomField[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [form] = Form.useForm();
  const type = Form.useWatch("type", form);

  const load = useCallback(async () => {
    const { data } = await callJson<Schemas["CustomFieldOutPage"]>(`/api/v1/custom-fields?entity=${entity}&limit=200`);
    setItems(data?.items ?? []);
  }, [entity]);
  useEffect(() => { void load(); }, [load]);

  const create = async (values: { key: string; label: string; type: string; required?: boolean; options?: string }) => {
    const options = values.options
      ? values.options.split(/[,，、\n]/).map((s) => s.trim()).filter(Boolean).map((label, i) => ({ key: `o${i + 1}`, label }))
      : null;
    const { error: problem } = await callJson("/api/v1/custom-fields", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ entity, key: values.key, label: values.label, type: values.type,
        required: !!values.required, ...(options ? { options } : {}) }) });
    if (problem) {
      setError(showProblem(form, problem, ["key", "label", "type", "required", "options"]));
      return;
    }
    setError(null);
    form.resetFields();
    await load();
  };
  const retire = async (field: CustomField) => {
    const { error: problem } = await callJson(`/api/v1/custom-fields/${field.id}/retire`, { method: "POST" });
    setError(problemText(problem));
    await load();
  };
  return (
    <>
      <Space style={{ marginBottom: 12 }}>
        <span>{t("imports.entity")}</span>
        <Select value={entity} onChange={setEntity} style={{ width: 140 }} aria-label={t("imports.entity")}
          options={RECORD_ENTITIES.map((e) => ({ value: e, label: t(`admin.entity.${e}`) }))} />
      </Space>
      {error && <Alert type="error" showIcon message={error} style={{ marginBottom: 12 }} data-testid="field-error" />}
      <Form form={form} layout="inline" onFinish={create} style={{ marginBottom: 12, rowGap: 8 }} initialValues={{ type: "text" }}>
        <Form.Item name="label" label={t("admin.fieldLabel")}><Input style={{ width: 140 }} /></Form.Item>
        <Form.Item name="key" label={t("admin.fieldKey")}><Input style={{ width: 140 }} placeholder="region" /></Form.Item>
        <Form.Item name="type" label={t("admin.fieldType")}>
          <Select style={{ width: 140 }} aria-label={t("admin.fieldType")}
            options={FIELD_TYPES.map((v) => ({ value: v, label: t(`admin.ftype.${v}`) }))} />
        </Form.Item>
        {(type === "single_select" || type === "multi_select") && (
          <Form.Item name="options" label={t("admin.fieldOptions")}><Input style={{ width: 200 }} placeholder={t("admin.fieldOptionsExample")} /></Form.Item>
        )}
        <Form.Item name="required" valuePropName="checked"><Checkbox>{t("admin.fieldRequired")}</Checkbox></Form.Item>
        <Button type="primary" htmlType="submit" data-testid="add-field">{t("admin.addField")}</Button>
      </Form>
      <Table<CustomField> rowKey="id" size="small" loading={items === null} dataSource={items ?? []} pagination={false}
        scroll={{ x: "max-content" }} data-testid="custom-fields" columns={[
          { title: t("admin.fieldLabel"), dataIndex: "label" },
          { title: t("admin.fieldKey"), dataIndex: "key", render: (k: string) => <code>custom_fields.{k}</code> },
          { title: t("admin.fieldType"), dataIndex: "type", render: (v: string) => t(`admin.ftype.${v}` as MessageKey) ?? v },
          { title: t("admin.fieldOptions"), dataIndex: "options", render: (o: CustomField["options"]) => o?.map((x) => <Tag key={x.key}>{x.label}</Tag>) },
          { title: t("admin.fieldRequired"), dataIndex: "required", render: (r: boolean) => (r ? "✓" : "") },
          { title: t("admin.status"), dataIndex: "status", render: (s: string) => <Tag>{t(`admin.status.${s}` as MessageKey) ?? s}</Tag> },
          { title: "", key: "act", render: (_v, f) => f.status === "active" &&
            <Button size="small" onClick={() => retire(f)}>{t("admin.retire")}</Button> },
        ]} />
    </>
  );
}

export function ApiKeysTab() {
  const { t, locale } = useApp();
  const [items, setItems] = useState<Schemas["ApiKeyOut"][] | null>(null);
  const [creating, setCreating] = useState(false);
  const [secret, setSecret] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [form] = Form.useForm();
  const load = useCallback(async () => {
    const { data } = await api.GET("/api/v1/api-keys", { params: { query: { limit: 200 } } });
    setItems(data?.items ?? []);
  }, []);
  useEffect(() => { void load(); }, [load]);

  const create = async (values: { name: string; scopes: string[] }) => {
    const { data, error: problem } = await api.POST("/api/v1/api-keys", { body: { name: values.name, scopes: values.scopes ?? [] } });
    if (problem) {
      setError(showProblem(form, problem, ["name", "scopes"]));
      return;
    }
    setCreating(false);
    setSecret(data.key); // shown this once: the API never answers it again
    await load();
  };
  const scopes = ["customer", "contact", "interaction", "objection", "task", "opportunity"]
    .flatMap((e) => ["read", "create", "update"].map((a) => `${e}:${a}`));
  return (
    <>
      <Button type="primary" style={{ marginBottom: 12 }} data-testid="new-api-key"
        onClick={() => { form.resetFields(); setError(null); setCreating(true); }}>{t("admin.newKey")}</Button>
      {secret && (
        <Alert type="warning" showIcon closable onClose={() => setSecret(null)} style={{ marginBottom: 12 }}
          message={t("admin.keyOnce")} data-testid="api-key-secret"
          description={<Typography.Text copyable code>{secret}</Typography.Text>} />
      )}
      <Table rowKey="id" size="small" loading={items === null} dataSource={items ?? []} pagination={false}
        scroll={{ x: "max-content" }} data-testid="api-keys" columns={[
          { title: t("admin.name"), dataIndex: "name" },
          { title: t("admin.keyPrefix"), dataIndex: "prefix", render: (p: string) => <code>{p}…</code> },
          { title: t("admin.scopes"), dataIndex: "scopes", render: (s: string[]) => s.map((x) => <Tag key={x}>{x}</Tag>) },
          { title: t("admin.status"), dataIndex: "status", render: (s: string) => <Tag>{t(`admin.status.${s}` as MessageKey) ?? s}</Tag> },
          { title: t("admin.lastUsed"), dataIndex: "last_used_at", render: (v: string | null) => formatDateTime(v, locale) },
          { title: "", key: "act", render: (_v, k) => k.status === "active" && (
            <Button size="small" danger onClick={async () => {
              await api.DELETE("/api/v1/api-keys/{key_id}", { params: { path: { key_id: k.id } } });
              await load();
            }}>{t("admin.revoke")}</Button>) },
        ]} />
      <Modal open={creating} title={t("admin.newKey")} onCancel={() => setCreating(false)} onOk={() => form.submit()}
        okText={t("common.save")} cancelText={t("common.cancel")}>
        {error && <Alert type="error" showIcon message={error} style={{ marginBottom: 12 }} />}
        <Form form={form} layout="vertical" onFinish={create}>
          <Form.Item name="name" label={t("admin.name")}><Input /></Form.Item>
          <Form.Item name="scopes" label={t("admin.scopes")}>
            <Select mode="tags" aria-label={t("admin.scopes")} options={scopes.map((s) => ({ value: s, label: s }))} />
          </Form.Item>
        </Form>
      </Modal>
    </>
  );
}

export function AuditTab() {
  const { t, locale } = useApp();
  const users = useUsers();
  const [action, setAction] = useState("");
  const [items, setItems] = useState<Schemas["AuditEntryOut"][] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = useCallback(async (cursor?: string) => {
    const { data, error: problem } = await api.GET("/api/v1/audit-log", {
      params: { query: { action: action || undefined, limit: 50, cursor } } });
    setItems((prev) => (cursor ? [...(prev ?? []), ...(data?.items ?? [])] : data?.items ?? []));
    setNext(data?.next_cursor ?? null);
    setError(problemText(problem));
  }, [action]);
  useEffect(() => { void load(); }, [load]);
  return (
    <>
      <Input.Search placeholder={t("admin.auditAction")} allowClear style={{ width: 260, marginBottom: 12 }}
        aria-label={t("admin.auditAction")} onSearch={setAction} />
      {error && <Alert type="error" showIcon message={error} style={{ marginBottom: 12 }} />}
      <Table rowKey="id" size="small" loading={items === null} dataSource={items ?? []} pagination={false}
        scroll={{ x: "max-content" }} data-testid="audit-log" columns={[
          { title: t("admin.when"), dataIndex: "occurred_at", render: (v: string) => formatDateTime(v, locale) },
          { title: t("admin.who"), key: "who", render: (_v, e) => e.actor.kind === "user" ? nameOf(users, e.actor.id) : e.actor.kind },
          { title: t("admin.auditAction"), dataIndex: "action", render: (a: string) => <code>{a}</code> },
          { title: t("admin.target"), key: "target", render: (_v, e) => e.target_type ? `${e.target_type} ${e.target_id?.slice(0, 8) ?? ""}` : "—" },
          { title: "IP", dataIndex: "source_ip" },
        ]} />
      {next && <Button style={{ marginTop: 12 }} onClick={() => load(next)}>{t("customers.next")}</Button>}
    </>
  );
}
