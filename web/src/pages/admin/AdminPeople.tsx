import {
  Alert, Button, Checkbox, Form, Input, Modal, Select, Space, Table, Tag, Tree, Typography,
} from "antd";
import { useCallback, useEffect, useMemo, useState } from "react";

import { api, type Schemas } from "../../api/client";
import { useApp } from "../../AppContext";
import { problemText, showProblem } from "../../components/forms";
import type { MessageKey } from "../../i18n/messages";
import { buildTree } from "../../lib/admin";
import { formatDateTime } from "../../lib/format";
import { nameOf, useUsers } from "../../lib/users";

type Role = Schemas["RoleOut"];
type Department = Schemas["DepartmentOut"];

function useList<T>(load: () => Promise<{ data?: { items: T[] } }>): [T[] | null, () => void] {
  const [items, setItems] = useState<T[] | null>(null);
  const reload = useCallback(() => { void load().then(({ data }) => setItems(data?.items ?? [])); }, [load]);
  useEffect(reload, [reload]);
  return [items, reload];
}

const loadRoles = () => api.GET("/api/v1/roles", { params: { query: { limit: 200 } } });
const loadDepartments = () => api.GET("/api/v1/departments", { params: { query: { limit: 200 } } });

export function UsersTab() {
  const { t, locale } = useApp();
  const [users, reloadUsers] = useList(useCallback(() => api.GET("/api/v1/users", { params: { query: { limit: 200 } } }), []));
  const [invitations, reloadInvitations] = useList(useCallback(() => api.GET("/api/v1/invitations", { params: { query: { limit: 200 } } }), []));
  const [roles] = useList(loadRoles);
  const [departments] = useList(loadDepartments);
  const [inviting, setInviting] = useState(false);
  const [link, setLink] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [form] = Form.useForm();

  const invite = async (values: Schemas["InvitationRequest"]) => {
    const { data, error: problem } = await api.POST("/api/v1/invitations", { body: values });
    if (problem) {
      setError(showProblem(form, problem, ["email", "name", "role_ids", "department_id"]));
      return;
    }
    setInviting(false);
    // The token is shown this once: the link to send the colleague (the mail carries it too).
    setLink(`${window.location.origin}/invitation?token=${encodeURIComponent(data.token)}`);
    reloadInvitations();
  };
  const setActive = async (user: Schemas["UserOut"], active: boolean) => {
    const path = active ? "/api/v1/users/{user_id}/reactivate" : "/api/v1/users/{user_id}/deactivate";
    const { error: problem } = await api.POST(path, { params: { path: { user_id: user.id } } });
    setError(problemText(problem));
    reloadUsers();
  };
  const roleName = (id: string) => roles?.find((r) => r.id === id)?.name ?? id.slice(0, 8);
  const deptName = (id: string | null) => departments?.find((d) => d.id === id)?.name ?? "—";

  return (
    <>
      <Space style={{ marginBottom: 12 }}>
        <Button type="primary" onClick={() => { form.resetFields(); setError(null); setInviting(true); }} data-testid="invite">
          {t("admin.invite")}
        </Button>
      </Space>
      {link && <Alert type="success" showIcon closable onClose={() => setLink(null)} style={{ marginBottom: 12 }}
        message={t("admin.inviteSent")} description={<Typography.Text copyable data-testid="invite-link">{link}</Typography.Text>} />}
      {error && !inviting && <Alert type="error" showIcon message={error} style={{ marginBottom: 12 }} />}
      <Table rowKey="id" size="small" loading={users === null} dataSource={users ?? []} pagination={false}
        scroll={{ x: "max-content" }} data-testid="users" columns={[
          { title: t("admin.name"), dataIndex: "name" },
          { title: t("auth.email"), dataIndex: "email" },
          { title: t("admin.roles"), key: "roles", render: (_v, u) => u.roles.map((r) => <Tag key={r.id}>{r.name}</Tag>) },
          { title: t("admin.department"), key: "dept", render: (_v, u) => deptName(u.department_id) },
          { title: t("admin.status"), dataIndex: "status", render: (s: string) => <Tag color={s === "active" ? "green" : "default"}>
            {t(`admin.status.${s}` as MessageKey) ?? s}</Tag> },
          { title: t("admin.lastLogin"), dataIndex: "last_login_at", render: (v: string | null) => formatDateTime(v, locale) },
          { title: "", key: "act", render: (_v, u) => u.status === "active"
            ? <Button size="small" danger onClick={() => setActive(u, false)}>{t("admin.deactivate")}</Button>
            : <Button size="small" onClick={() => setActive(u, true)}>{t("admin.reactivate")}</Button> },
        ]} />
      <Typography.Title level={5} style={{ marginTop: 16 }}>{t("admin.invitations")}</Typography.Title>
      <Table rowKey="id" size="small" loading={invitations === null} dataSource={invitations ?? []} pagination={false}
        scroll={{ x: "max-content" }} data-testid="invitations" columns={[
          { title: t("auth.email"), dataIndex: "email" },
          { title: t("admin.name"), dataIndex: "name" },
          { title: t("admin.roles"), key: "roles", render: (_v, i) => i.role_ids.map((r) => <Tag key={r}>{roleName(r)}</Tag>) },
          { title: t("admin.status"), dataIndex: "status", render: (s: string) => <Tag>{t(`admin.invite.${s}` as MessageKey) ?? s}</Tag> },
          { title: t("admin.expires"), dataIndex: "expires_at", render: (v: string) => formatDateTime(v, locale) },
          { title: "", key: "act", render: (_v, i) => i.status === "pending" && (
            <Button size="small" onClick={async () => {
              await api.DELETE("/api/v1/invitations/{invitation_id}", { params: { path: { invitation_id: i.id } } });
              reloadInvitations();
            }}>{t("admin.revoke")}</Button>) },
        ]} />
      <Modal open={inviting} title={t("admin.invite")} onCancel={() => setInviting(false)} onOk={() => form.submit()}
        okText={t("admin.send")} cancelText={t("common.cancel")}>
        {error && <Alert type="error" showIcon message={error} style={{ marginBottom: 12 }} />}
        <Form form={form} layout="vertical" onFinish={invite}>
          <Form.Item name="email" label={t("auth.email")}><Input /></Form.Item>
          <Form.Item name="name" label={t("admin.name")}><Input /></Form.Item>
          <Form.Item name="role_ids" label={t("admin.roles")}>
            <Select mode="multiple" aria-label={t("admin.roles")} options={(roles ?? []).map((r) => ({ value: r.id, label: r.name }))} />
          </Form.Item>
          <Form.Item name="department_id" label={t("admin.department")}>
            <Select allowClear options={(departments ?? []).map((d) => ({ value: d.id, label: d.name }))} />
          </Form.Item>
        </Form>
      </Modal>
    </>
  );
}

export function DepartmentsTab() {
  const { t } = useApp();
  const users = useUsers();
  const [departments, reload] = useList<Department>(loadDepartments);
  const [parent, setParent] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [form] = Form.useForm();
  const tree = useMemo(() => buildTree(departments ?? [], (d) => (
    <span data-testid="department">{d.name}{d.head_user_id && <Tag style={{ marginLeft: 8 }}>{t("admin.head")}: {nameOf(users, d.head_user_id)}</Tag>}</span>
  )), [departments, users, t]);

  const add = async (values: { name: string; head_user_id?: string }) => {
    const { error: problem } = await api.POST("/api/v1/departments", {
      body: { name: values.name, parent_id: parent, head_user_id: values.head_user_id ?? null } });
    if (problem) {
      setError(showProblem(form, problem, ["name", "head_user_id", "parent_id"]));
      return;
    }
    form.resetFields();
    setError(null);
    reload();
  };
  return (
    <>
      {error && <Alert type="error" showIcon message={error} style={{ marginBottom: 12 }} />}
      <Form form={form} layout="inline" onFinish={add} style={{ marginBottom: 12, rowGap: 8 }}>
        <Form.Item label={t("admin.parent")}>
          <Select value={parent ?? undefined} onChange={(v) => setParent(v ?? null)} style={{ width: 180 }} allowClear
            aria-label={t("admin.parent")} options={(departments ?? []).map((d) => ({ value: d.id, label: d.name }))} />
        </Form.Item>
        <Form.Item name="name" label={t("admin.deptName")}><Input style={{ width: 160 }} /></Form.Item>
        <Form.Item name="head_user_id" label={t("admin.head")}>
          <Select allowClear style={{ width: 160 }} options={users.map((u) => ({ value: u.id, label: u.name }))} />
        </Form.Item>
        <Button type="primary" htmlType="submit" data-testid="add-department">{t("admin.addDepartment")}</Button>
      </Form>
      <Tree treeData={tree} defaultExpandAll key={departments?.length ?? 0} selectable
        onSelect={(keys) => setParent((keys[0] as string) ?? null)} data-testid="department-tree" />
    </>
  );
}

const ENTITIES = ["customer", "contact", "interaction", "objection", "task", "opportunity", "user", "role",
  "department", "api_key", "audit_log", "custom_field", "workflow", "webhook", "report"] as const;
const ACTIONS = ["read", "create", "update", "delete", "export", "import", "merge", "transfer"] as const;

interface RoleForm {
  name: string;
  description?: string;
  grants: { entity: string; actions: string[]; scope: string }[];
  rules: { target: string; rule: "hidden" | "read_only" }[];
}

export function RolesTab() {
  const { t } = useApp();
  const [roles, reload] = useList<Role>(loadRoles);
  const [editing, setEditing] = useState<Role | "new" | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [form] = Form.useForm<RoleForm>();

  const open = (role: Role | "new") => {
    setError(null);
    form.resetFields();
    if (role !== "new") {
      form.setFieldsValue({
        name: role.name, description: role.description,
        grants: Object.entries(role.permissions).map(([entity, g]) => ({ entity, actions: g.actions, scope: g.scope })),
        rules: Object.entries(role.field_rules).flatMap(([entity, fields]) =>
          Object.entries(fields).map(([field, rule]) => ({ target: `${entity}.${field}`, rule: rule as "hidden" | "read_only" }))),
      });
    }
    setEditing(role);
  };
  const save = async (values: RoleForm) => {
    const permissions = Object.fromEntries((values.grants ?? []).filter((g) => g.entity)
      .map((g) => [g.entity, { actions: g.actions ?? [], scope: g.scope ?? "own" }]));
    const fieldRules: Record<string, Record<string, string>> = {};
    for (const r of values.rules ?? []) {
      const [entity, field] = (r.target ?? "").split(".");
      if (entity) (fieldRules[entity] ??= {})[field ?? ""] = r.rule;
    }
    const body = { name: values.name, description: values.description ?? "", permissions, field_rules: fieldRules };
    const { error: problem } = editing === "new" || !editing
      ? await api.POST("/api/v1/roles", { body })
      : await api.PATCH("/api/v1/roles/{role_id}", { params: { path: { role_id: editing.id } }, body });
    if (problem) {
      setError(showProblem(form, problem, ["name", "description"]) ?? problemText(problem));
      return;
    }
    setEditing(null);
    reload();
  };
  return (
    <>
      <Button type="primary" style={{ marginBottom: 12 }} onClick={() => open("new")} data-testid="new-role">{t("admin.newRole")}</Button>
      <Table rowKey="id" size="small" loading={roles === null} dataSource={roles ?? []} pagination={false}
        scroll={{ x: "max-content" }} data-testid="roles" columns={[
          { title: t("admin.name"), dataIndex: "name", render: (n: string, r) => <>{n} {r.builtin && <Tag>{t("admin.builtin")}</Tag>}</> },
          { title: t("admin.permissions"), key: "p", render: (_v, r) => Object.entries(r.permissions).map(([e, g]) => (
            <div key={e}><b>{t(`admin.entity.${e}` as MessageKey) ?? e}</b> · {g.actions.map((a) => t(`admin.action.${a}` as MessageKey) ?? a).join(t("common.listSeparator"))}
              {" "}<Tag>{t(`admin.scope.${g.scope}` as MessageKey) ?? g.scope}</Tag></div>)) },
          { title: t("admin.fieldRules"), key: "f", render: (_v, r) => Object.entries(r.field_rules).flatMap(([e, fields]) =>
            Object.entries(fields).map(([f, rule]) => <Tag key={`${e}.${f}`}>{e}.{f}: {t(`admin.rule.${rule}` as MessageKey) ?? rule}</Tag>)) },
          { title: "", key: "act", render: (_v, r) => <Button size="small" onClick={() => open(r)}>{t("common.edit")}</Button> },
        ]} />
      <Modal open={!!editing} width={760} title={editing === "new" ? t("admin.newRole") : t("admin.editRole")}
        onCancel={() => setEditing(null)} onOk={() => form.submit()} okText={t("common.save")} cancelText={t("common.cancel")}>
        {error && <Alert type="error" showIcon message={error} style={{ marginBottom: 12 }} data-testid="role-error" />}
        <Form form={form} layout="vertical" onFinish={save}>
          <Form.Item name="name" label={t("admin.name")}><Input /></Form.Item>
          <Form.Item name="description" label={t("admin.description")}><Input /></Form.Item>
          <Typography.Text strong>{t("admin.permissions")}</Typography.Text>
          <Form.List name="grants">{(rows, { add, remove }) => (
            <>
              {rows.map((row) => (
                <Space key={row.key} align="start" wrap style={{ display: "flex" }}>
                  <Form.Item name={[row.name, "entity"]}><Select style={{ width: 130 }} aria-label={t("admin.entity")}
                    options={ENTITIES.map((e) => ({ value: e, label: t(`admin.entity.${e}`) }))} /></Form.Item>
                  <Form.Item name={[row.name, "actions"]}><Checkbox.Group
                    options={ACTIONS.map((a) => ({ value: a, label: t(`admin.action.${a}`) }))} /></Form.Item>
                  <Form.Item name={[row.name, "scope"]} initialValue="own"><Select style={{ width: 110 }} aria-label={t("admin.scope")}
                    options={["own", "department", "all"].map((s) => ({ value: s, label: t(`admin.scope.${s}` as MessageKey) }))} /></Form.Item>
                  <Button onClick={() => remove(row.name)}>{t("admin.remove")}</Button>
                </Space>
              ))}
              <Button onClick={() => add({ actions: ["read"], scope: "own" })} style={{ marginBottom: 12 }} data-testid="add-grant">
                {t("admin.addGrant")}</Button>
            </>
          )}</Form.List>
          <div><Typography.Text strong>{t("admin.fieldRules")}</Typography.Text></div>
          <Form.List name="rules">{(rows, { add, remove }) => (
            <>
              {rows.map((row) => (
                <Space key={row.key} align="start">
                  <Form.Item name={[row.name, "target"]}><Input placeholder="customer.phone" style={{ width: 200 }}
                    aria-label={t("admin.field")} /></Form.Item>
                  <Form.Item name={[row.name, "rule"]} initialValue="hidden"><Select style={{ width: 110 }} aria-label={t("admin.rule")}
                    options={["hidden", "read_only"].map((r) => ({ value: r, label: t(`admin.rule.${r}` as MessageKey) }))} /></Form.Item>
                  <Button onClick={() => remove(row.name)}>{t("admin.remove")}</Button>
                </Space>
              ))}
              <div><Button onClick={() => add({ rule: "hidden" })} data-testid="add-rule">{t("admin.addRule")}</Button></div>
            </>
          )}</Form.List>
        </Form>
      </Modal>
    </>
  );
}
