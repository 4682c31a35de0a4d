import { App as AntApp, Alert, Button, Card, Checkbox, Descriptions, Dropdown, Empty, Form, Input,
  InputNumber, Radio, Select, Space, Switch, Table, Tag, Typography } from "antd";
import { useCallback, useEffect, useMemo, useState, type ReactNode } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";

import { api, type Schemas } from "../../api/client";
import { isProblem } from "../../api/problem";
import { useApp } from "../../AppContext";
import { wfText, type WorkflowKey } from "../../i18n/messages/workflows";
import { formatDateTime } from "../../lib/format";
import { useUsers, type User } from "../../lib/users";
import {
  conditionCel, ENTITIES, entityOf, fieldChoices, fromDuration, groupErrors, literalUser, newStep, newTrigger,
  splitCondition, STEP_TYPES, toDuration, TRIGGER_TYPES, userLiteral, valuesOf, type CustomField, type Entity,
  type Node, type Span, type Unit,
} from "./model";

type Workflow = Schemas["WorkflowOut"];
type Body = Schemas["WorkflowCreate"];
type Run = Schemas["RunOut"];
type DryRun = Schemas["DryRunOut"];
type Errors = Record<string, string[]>;
type T = (key: WorkflowKey, values?: Record<string, string | number>) => string;

/** What the pickers offer: the workspace's people, departments, roles, approval templates, custom
 * fields per entity and its time zone; each empty when the caller may not read it. */
interface Directory {
  users: User[];
  departments: { id: string; name: string }[];
  roles: { key: string; name: string }[];
  templates: { id: string; name: string }[];
  custom: Record<string, CustomField[]>;
  timeZone: string;
}

function useDirectory(): Directory {
  const users = useUsers();
  const [rest, setRest] = useState<Omit<Directory, "users">>({ departments: [], roles: [], templates: [], custom: {}, timeZone: "" });
  useEffect(() => {
    void Promise.all([
      api.GET("/api/v1/departments", { params: { query: { limit: 200 } } }),
      api.GET("/api/v1/roles", { params: { query: { limit: 200 } } }),
      api.GET("/api/v1/approval-templates", { params: { query: { limit: 200 } } }),
      api.GET("/api/v1/custom-fields", { params: { query: { status: "active", limit: 200 } } }),
      api.GET("/api/v1/business-calendar"),
    ]).then(([d, r, a, c, cal]) => {
      const custom: Record<string, CustomField[]> = {};
      for (const f of c.data?.items ?? []) (custom[f.entity] ??= []).push({ key: f.key, label: f.label, type: f.type });
      setRest({
        departments: (d.data?.items ?? []).map((x) => ({ id: x.id, name: x.name })),
        roles: (r.data?.items ?? []).map((x) => ({ key: x.key, name: x.name })),
        templates: (a.data?.items ?? []).map((x) => ({ id: x.id, name: x.name })),
        custom,
        timeZone: cal.data?.time_zone ?? "",
      });
    });
  }, []);
  return { users, ...rest };
}

// The editor keeps a record trigger's value change and free CEL apart (`_change`, `_cel`) and
// joins them into `condition` when saving.
function editable(trigger: Node): Node {
  if (!trigger.type.startsWith("record.")) return { ...trigger };
  const split = splitCondition(trigger.condition as string | null | undefined);
  return { ...trigger, _change: split.change ?? { field: "", from: "", to: "" }, _cel: split.cel };
}

function savable(trigger: Node): Node {
  if (!trigger.type.startsWith("record.")) return trigger;
  const { _change, _cel, ...rest } = trigger;
  const condition = conditionCel({ change: _change as { field: string; from: string; to: string }, cel: String(_cel ?? "") });
  const out: Node = { ...rest };
  if (condition) out.condition = condition; else delete out.condition;
  return out;
}

/** A step as sent: empty optional texts left out, nested branches cleaned too. */
function cleanStep(step: Node): Node {
  const out: Node = { ...step };
  for (const [k, v] of Object.entries(out)) if (v === "" || v === null || v === undefined) delete out[k];
  if (step.type === "branch") {
    out.then = ((step.then as Node[]) ?? []).map(cleanStep);
    out.else = ((step.else as Node[]) ?? []).map(cleanStep);
  }
  if (step.type === "request_approval" && !out.template_id) out.template_id = "";
  if (step.type === "create_task" && out.title === undefined) out.title = "";
  if (step.type === "notify" && out.message === undefined) out.message = "";
  if (step.type === "branch" && out.condition === undefined) out.condition = "";
  return out;
}

/** 编辑工作流: a workflow as forms (triggers, an optional condition, ordered steps), saved with its
 * version (If-Match), the API's 422 on the fields it names; a dry run and the runs below. */
export default function WorkflowEditor() {
  const { locale } = useApp();
  const t: T = useCallback((key, values) => wfText(locale, key, values), [locale]);
  // One route for /workflows/new and /workflows/:id, so the page (and a webhook secret shown once)
  // stays when a new workflow's address replaces "new".
  const { id: param } = useParams();
  const id = param === "new" ? undefined : param;
  const navigate = useNavigate();
  const { message } = AntApp.useApp();
  const dir = useDirectory();
  const [loaded, setLoaded] = useState<Workflow | null>(null);
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [enabled, setEnabled] = useState(true);
  const [triggers, setTriggers] = useState<Node[]>([editable(newTrigger("record.updated", "customer"))]);
  const [steps, setSteps] = useState<Node[]>([newStep("create_task")]);
  const [errors, setErrors] = useState<Errors>({});
  const [topError, setTopError] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const [webhook, setWebhook] = useState<{ url: string; secret: string } | null>(null);

  const take = useCallback((w: Workflow) => {
    setLoaded(w);
    setName(w.name);
    setDescription(w.description ?? "");
    setEnabled(w.enabled);
    setTriggers((w.triggers as unknown as Node[]).map(editable));
    setSteps(w.steps as unknown as Node[]);
  }, []);

  useEffect(() => {
    if (!id) return;
    void api.GET("/api/v1/workflows/{workflow_id}", { params: { path: { workflow_id: id } } }).then(({ data, error }) => {
      if (data) take(data);
      else setTopError(isProblem(error) ? error.detail || error.title : null);
    });
  }, [id, take]);

  const save = async () => {
    setSaving(true);
    setErrors({});
    setTopError(null);
    const body = {
      name, description: description || null, enabled,
      triggers: triggers.map(savable), steps: steps.map(cleanStep),
    } as unknown as Body;
    const answer = loaded
      ? await api.PATCH("/api/v1/workflows/{workflow_id}", {
        params: { path: { workflow_id: loaded.id } }, body, headers: { "If-Match": `"${loaded.version}"` } })
      : await api.POST("/api/v1/workflows", { body });
    setSaving(false);
    if (answer.data) {
      const saved = answer.data;
      if (saved.webhook_secret) {
        setWebhook({ url: `${window.location.origin}/api/v1/workflow-hooks/${saved.id}`, secret: saved.webhook_secret });
      }
      take(saved);
      message.success(t("wf.saved", { n: saved.version }));
      if (!loaded) navigate(`/workflows/${saved.id}`, { replace: true });
      return;
    }
    const problem = answer.error;
    if (isProblem(problem)) {
      if (problem.status === 412) { setTopError(t("wf.stale")); return; }
      const grouped = groupErrors(problem.errors ?? []);
      setErrors(grouped);
      setTopError(problem.errors?.length ? `${t("wf.fixErrors")}: ${problem.detail ?? problem.title}` : problem.detail || problem.title);
    }
  };

  const entity = entityOf(triggers);
  const ctx: Ctx = { t, dir, errors, entity: entity ?? "customer", hasRecord: entity !== null };
  return (
    <div data-testid="workflow-editor">
      <Space style={{ marginBottom: 8 }}><Link to="/admin/workflows">← {t("wf.back")}</Link></Space>
      <Typography.Title level={3}>{loaded ? t("wf.titleEdit") : t("wf.titleNew")}</Typography.Title>
      {loaded && <Tag color="blue" data-testid="wf-version">{t("wf.version")} v{loaded.version}</Tag>}
      {topError && <Alert type="error" showIcon message={topError} style={{ margin: "12px 0" }} data-testid="wf-error" />}
      {webhook && (
        <Alert type="warning" showIcon closable style={{ margin: "12px 0" }} message={t("wf.webhookSaved")} data-testid="wf-webhook"
          description={<Descriptions size="small" column={1} items={[
            { key: "u", label: t("wf.webhookUrl"), children: <Typography.Text copyable code>{webhook.url}</Typography.Text> },
            { key: "s", label: t("wf.webhookSecret"), children: <Typography.Text copyable code>{webhook.secret}</Typography.Text> },
          ]} />} />
      )}
      {!webhook && loaded?.has_webhook && (
        <Alert type="info" showIcon style={{ margin: "12px 0" }}
          message={t("wf.webhookExists", { url: `${window.location.origin}/api/v1/workflow-hooks/${loaded.id}` })} />
      )}
      <Form layout="vertical" style={{ maxWidth: 920, marginTop: 12 }} onFinish={() => void save()}>
        <Item ctx={ctx} path="name" label={t("wf.name")} id="wf-name" required>
          <Input id="wf-name" value={name} maxLength={200} onChange={(e) => setName(e.target.value)} />
        </Item>
        <Item ctx={ctx} path="description" label={t("wf.description")} id="wf-description">
          <Input.TextArea id="wf-description" value={description} autoSize maxLength={2000} onChange={(e) => setDescription(e.target.value)} />
        </Item>
        <Form.Item label={t("wf.enabled")} htmlFor="wf-enabled">
          <Switch id="wf-enabled" checked={enabled} onChange={setEnabled} />
        </Form.Item>

        <Typography.Title level={4}>{t("wf.triggers")}</Typography.Title>
        <Errs list={errors.triggers} />
        {triggers.map((trigger, i) => (
          <TriggerCard key={i} ctx={ctx} index={i} trigger={trigger} count={triggers.length}
            onChange={(next) => setTriggers(triggers.map((x, j) => (j === i ? next : x)))}
            onRemove={() => setTriggers(triggers.filter((_x, j) => j !== i))} />
        ))}
        <Dropdown trigger={["click"]} menu={{ items: TRIGGER_TYPES.map((type) => ({ key: type, label: t(`wf.trigger.${type}` as WorkflowKey) })),
          onClick: ({ key }) => setTriggers([...triggers, editable(newTrigger(key, entity ?? "customer"))]) }}>
          <Button data-testid="add-trigger">+ {t("wf.addTrigger")}</Button>
        </Dropdown>

        <Typography.Title level={4} style={{ marginTop: 24 }}>{t("wf.steps")}</Typography.Title>
        <StepList ctx={ctx} path="steps" steps={steps} onChange={setSteps} />

        <Form.Item style={{ marginTop: 24 }}>
          <Button type="primary" htmlType="submit" loading={saving} data-testid="wf-save">{t("wf.save")}</Button>
        </Form.Item>
      </Form>
      {loaded && <DryRunPanel t={t} workflow={loaded} entity={entity} />}
      {loaded && <RunsPanel t={t} workflow={loaded} />}
    </div>
  );
}

interface Ctx { t: T; dir: Directory; errors: Errors; entity: Entity; hasRecord: boolean }

function Errs({ list }: { list?: string[] }) {
  if (!list?.length) return null;
  return <Alert type="error" showIcon message={list.join("; ")} style={{ marginBottom: 8 }} />;
}

/** A labelled field; the API's messages for `path` (or anything under it not shown elsewhere) under it. */
function Item({ ctx, path, label, id, children, required, extra }: {
  ctx: Ctx; path: string; label: ReactNode; id?: string; children: ReactNode; required?: boolean; extra?: ReactNode;
}) {
  const messages = ctx.errors[path];
  return (
    <Form.Item label={label} htmlFor={id} required={required} extra={extra}
      validateStatus={messages?.length ? "error" : undefined} help={messages?.length ? messages.join("; ") : undefined}>
      {children}
    </Form.Item>
  );
}

/** The values a field is known to take, offered by the browser while typing (any other may be typed). */
function ValueList({ id, values }: { id: string; values: readonly string[] }) {
  return <datalist id={id}>{values.map((v) => <option key={v} value={v} />)}</datalist>;
}

const idOf = (path: string) => "wf-" + path.replace(/[^A-Za-z0-9]+/g, "-");

function DurationInput({ ctx, value, onChange, id, signed, allowEmpty }: {
  ctx: Ctx; value: string | null | undefined; onChange: (next: string | null) => void; id: string;
  signed?: boolean; allowEmpty?: boolean;
}) {
  const { t } = ctx;
  const span = fromDuration(value);
  if (value && !span) {
    // A duration the editor did not write (e.g. PT1H30M15S): shown and edited as it is.
    return <Input id={id} value={value} onChange={(e) => onChange(e.target.value || null)} style={{ maxWidth: 200 }} />;
  }
  const current: Span = span ?? { amount: 0, unit: "hours", negative: false };
  const set = (next: Partial<Span>) => onChange(toDuration({ ...current, ...next }));
  return (
    <Space wrap>
      {allowEmpty && (
        <Checkbox checked={!value} onChange={(e) => onChange(e.target.checked ? null : "P1D")}>{t("wf.noDue")}</Checkbox>
      )}
      {(value || !allowEmpty) && (
        <>
          <InputNumber id={id} min={0} max={100000} value={current.amount} onChange={(n) => set({ amount: Number(n ?? 0) })} />
          <Select<Unit> value={current.unit} style={{ width: 100 }} aria-label={t("wf.unit")} onChange={(unit) => set({ unit })}
            options={(["minutes", "hours", "days"] as Unit[]).map((u) => ({ value: u, label: t(`wf.${u}` as WorkflowKey) }))} />
          {signed && (
            <Select<string> value={current.negative ? "before" : "after"} style={{ width: 100 }} aria-label={t("wf.direction")}
              onChange={(d) => set({ negative: d === "before" })}
              options={[{ value: "before", label: t("wf.before") }, { value: "after", label: t("wf.after") }]} />
          )}
        </>
      )}
    </Space>
  );
}

function entityOptions(t: T) {
  return ENTITIES.map((e) => ({ value: e, label: t(`wf.entity.${e}` as WorkflowKey) }));
}

function TriggerCard({ ctx, index, trigger, count, onChange, onRemove }: {
  ctx: Ctx; index: number; trigger: Node; count: number; onChange: (next: Node) => void; onRemove: () => void;
}) {
  const { t, dir } = ctx;
  const at = `triggers[${index}]`;
  const set = (patch: Record<string, unknown>) => onChange({ ...trigger, ...patch });
  const known = (TRIGGER_TYPES as readonly string[]).includes(trigger.type);
  const entity = (trigger.entity as Entity | undefined) ?? "customer";
  const custom = dir.custom[entity] ?? [];
  const typeSelect = (
    <Select<string> value={trigger.type} style={{ width: 220 }} aria-label={t("wf.triggerType")} data-testid="trigger-type"
      onChange={(type) => onChange(editable(newTrigger(type, entity)))}
      options={[...TRIGGER_TYPES.map((type) => ({ value: type, label: t(`wf.trigger.${type}` as WorkflowKey) })),
        ...(known ? [] : [{ value: trigger.type, label: trigger.type }])]} />
  );
  let body: ReactNode = null;
  if (trigger.type.startsWith("record.") && known) {
    const change = trigger._change as { field: string; from: string; to: string };
    const values = valuesOf(entity, change.field);
    body = (
      <>
        <Item ctx={ctx} path={`${at}.entity`} label={t("wf.entity")} id={idOf(`${at}.entity`)}>
          <Select<Entity> id={idOf(`${at}.entity`)} value={entity} options={entityOptions(t)} style={{ width: 200 }}
            onChange={(e) => set({ entity: e, fields: [], _change: { field: "", from: "", to: "" } })} />
        </Item>
        <Item ctx={ctx} path={`${at}.fields`} label={t("wf.onlyFields")} id={idOf(`${at}.fields`)}>
          <Select<string[]> id={idOf(`${at}.fields`)} mode="multiple" allowClear value={(trigger.fields as string[]) ?? []}
            options={fieldChoices(entity, custom)} onChange={(fields) => set({ fields })} />
        </Item>
        {Object.keys(ctx.errors).filter((k) => k.startsWith(`${at}.fields[`)).map((k) => <Errs key={k} list={ctx.errors[k]} />)}
        <Form.Item label={t("wf.valueField")} htmlFor={idOf(`${at}.value-field`)}>
          <Space wrap>
            <Select<string> id={idOf(`${at}.value-field`)} allowClear showSearch style={{ width: 220 }} value={change.field || undefined}
              options={fieldChoices(entity, custom)} onChange={(field) => set({ _change: { ...change, field: field ?? "" } })} />
            <Input style={{ width: 160 }} value={change.from} list={`${idOf(at)}-values`} placeholder={`${t("wf.from")}: ${t("wf.any")}`}
              aria-label={t("wf.from")} onChange={(e) => set({ _change: { ...change, from: e.target.value } })} />
            <span>→</span>
            <Input style={{ width: 160 }} value={change.to} list={`${idOf(at)}-values`} placeholder={`${t("wf.to")}: ${t("wf.any")}`}
              aria-label={t("wf.to")} onChange={(e) => set({ _change: { ...change, to: e.target.value } })} />
            <ValueList id={`${idOf(at)}-values`} values={values} />
          </Space>
        </Form.Item>
        <Item ctx={ctx} path={`${at}.condition`} label={t("wf.cel")} id={idOf(`${at}.condition`)} extra={t("wf.celHelp")}>
          <Input.TextArea id={idOf(`${at}.condition`)} autoSize value={String(trigger._cel ?? "")}
            onChange={(e) => set({ _cel: e.target.value })} />
        </Item>
        <Item ctx={ctx} path={`${at}.settle_seconds`} label={t("wf.settle")} id={idOf(`${at}.settle`)}>
          <InputNumber id={idOf(`${at}.settle`)} min={0} max={86400} value={Number(trigger.settle_seconds ?? 0)}
            onChange={(n) => set({ settle_seconds: Number(n ?? 0) })} />
        </Item>
      </>
    );
  } else if (trigger.type === "date") {
    body = (
      <>
        <Item ctx={ctx} path={`${at}.entity`} label={t("wf.entity")} id={idOf(`${at}.entity`)}>
          <Select<Entity> id={idOf(`${at}.entity`)} value={entity} options={entityOptions(t)} style={{ width: 200 }}
            onChange={(e) => onChange(newTrigger("date", e))} />
        </Item>
        <Item ctx={ctx} path={`${at}.field`} label={t("wf.dateField")} id={idOf(`${at}.field`)}>
          <Select<string> id={idOf(`${at}.field`)} showSearch value={String(trigger.field ?? "")} style={{ width: 320 }}
            options={fieldChoices(entity, custom, true)} onChange={(field) => set({ field })} />
        </Item>
        <Item ctx={ctx} path={`${at}.offset`} label={t("wf.offset")} id={idOf(`${at}.offset`)}>
          <DurationInput ctx={ctx} id={idOf(`${at}.offset`)} signed value={String(trigger.offset ?? "PT0S")}
            onChange={(offset) => set({ offset: offset ?? "PT0S" })} />
        </Item>
        <Form.Item>
          <Checkbox checked={Boolean(trigger.yearly)} onChange={(e) => set({ yearly: e.target.checked })}>{t("wf.yearly")}</Checkbox>
        </Form.Item>
        <Item ctx={ctx} path={`${at}.condition`} label={t("wf.cel")} id={idOf(`${at}.condition`)}>
          <Input.TextArea id={idOf(`${at}.condition`)} autoSize value={String(trigger.condition ?? "")}
            onChange={(e) => set({ condition: e.target.value || null })} />
        </Item>
      </>
    );
  } else if (trigger.type === "schedule") {
    body = (
      <Item ctx={ctx} path={`${at}.cron`} label={t("wf.cron")} id={idOf(`${at}.cron`)}
        extra={t("wf.timeZone", { tz: dir.timeZone || "Asia/Shanghai" })}>
        <Input id={idOf(`${at}.cron`)} value={String(trigger.cron ?? "")} style={{ maxWidth: 240 }}
          onChange={(e) => set({ cron: e.target.value })} />
      </Item>
    );
  } else if (trigger.type === "manual") {
    body = (
      <Item ctx={ctx} path={`${at}.entity`} label={t("wf.entity")} id={idOf(`${at}.entity`)}>
        <Select<Entity> id={idOf(`${at}.entity`)} allowClear value={(trigger.entity as Entity | null) ?? undefined}
          options={entityOptions(t)} style={{ width: 200 }} onChange={(e) => set({ entity: e ?? null })} />
      </Item>
    );
  } else if (trigger.type === "webhook") {
    body = <Typography.Text type="secondary">{t("wf.webhookNote")}</Typography.Text>;
  } else {
    body = <><Typography.Text type="secondary">{t("wf.unknownShape")}</Typography.Text><pre>{JSON.stringify(trigger, null, 2)}</pre></>;
  }
  return (
    <Card size="small" style={{ marginBottom: 12 }} data-testid="trigger" title={typeSelect}
      extra={count > 1 && <Button size="small" danger onClick={onRemove}>{t("wf.remove")}</Button>}>
      <Errs list={ctx.errors[at]} />
      {body}
    </Card>
  );
}

function StepList({ ctx, path, steps, onChange }: { ctx: Ctx; path: string; steps: Node[]; onChange: (next: Node[]) => void }) {
  const { t } = ctx;
  const move = (i: number, by: number) => {
    const next = [...steps];
    const [item] = next.splice(i, 1);
    next.splice(i + by, 0, item);
    onChange(next);
  };
  return (
    <div data-testid={`steps-${path}`}>
      <Errs list={ctx.errors[path]} />
      {steps.map((step, i) => (
        <StepCard key={`${i}-${step.type}`} ctx={ctx} path={`${path}[${i}]`} number={i + 1} step={step}
          onChange={(next) => onChange(steps.map((x, j) => (j === i ? next : x)))}
          actions={(
            <Space size={4}>
              <Button size="small" disabled={i === 0} onClick={() => move(i, -1)} aria-label={t("wf.up")}>↑</Button>
              <Button size="small" disabled={i === steps.length - 1} onClick={() => move(i, 1)} aria-label={t("wf.down")}>↓</Button>
              <Button size="small" danger onClick={() => onChange(steps.filter((_x, j) => j !== i))}>{t("wf.remove")}</Button>
            </Space>
          )} />
      ))}
      <Dropdown trigger={["click"]} menu={{ items: STEP_TYPES.map((type) => ({ key: type, label: t(`wf.step.${type}` as WorkflowKey) })),
        onClick: ({ key }) => onChange([...steps, newStep(key)]) }}>
        <Button data-testid={`add-step-${path}`}>+ {t("wf.addStep")}</Button>
      </Dropdown>
    </div>
  );
}

/** Who a task or notification goes to: the record's owner or assignee, a named user, or CEL. */
function PersonExpr({ ctx, id, value, onChange, allowDefault }: {
  ctx: Ctx; id: string; value: string | null | undefined; onChange: (next: string | null) => void; allowDefault?: boolean;
}) {
  const { t, dir } = ctx;
  const presets = ["record.owner_id", "record.assignee_id"];
  const user = literalUser(value);
  const mode = !value ? "default" : presets.includes(value) ? value : user ? `user:${user}` : "expr";
  const options = [
    ...(allowDefault ? [{ value: "default", label: t("wf.assigneeDefault") }] : []),
    { value: "record.owner_id", label: t("wf.assigneeOwner") },
    { value: "record.assignee_id", label: t("wf.assigneeAssignee") },
    ...dir.users.map((u) => ({ value: `user:${u.id}`, label: u.name })),
    ...(user && !dir.users.some((u) => u.id === user) ? [{ value: `user:${user}`, label: user.slice(0, 8) }] : []),
    { value: "expr", label: t("wf.assigneeExpr") },
  ];
  return (
    <Space direction="vertical" style={{ width: "100%" }}>
      <Select<string> id={id} value={mode} options={options} style={{ width: 320 }} showSearch optionFilterProp="label"
        onChange={(m) => onChange(m === "default" ? null : m === "expr" ? (value && mode === "expr" ? value : "record.owner_id")
          : m.startsWith("user:") ? userLiteral(m.slice(5)) : m)} />
      {mode === "expr" && <Input value={value ?? ""} aria-label={t("wf.assigneeExpr")} onChange={(e) => onChange(e.target.value || null)} />}
    </Space>
  );
}

function StepCard({ ctx, path, number, step, onChange, actions }: {
  ctx: Ctx; path: string; number: number; step: Node; onChange: (next: Node) => void; actions: ReactNode;
}) {
  const { t, dir, entity } = ctx;
  const set = (patch: Record<string, unknown>) => onChange({ ...step, ...patch });
  const id = (name: string) => idOf(`${path}.${name}`);
  const custom = dir.custom[entity] ?? [];
  let body: ReactNode;
  switch (step.type) {
    case "create_task":
      body = (
        <>
          <Item ctx={ctx} path={`${path}.title`} label={t("wf.title")} id={id("title")} required>
            <Input id={id("title")} value={String(step.title ?? "")} maxLength={200} onChange={(e) => set({ title: e.target.value })} />
          </Item>
          <Item ctx={ctx} path={`${path}.description`} label={t("wf.taskDescription")} id={id("description")}>
            <Input.TextArea id={id("description")} autoSize value={String(step.description ?? "")}
              onChange={(e) => set({ description: e.target.value || null })} />
          </Item>
          <Item ctx={ctx} path={`${path}.due_in`} label={t("wf.dueIn")} id={id("due_in")}>
            <Space wrap>
              <DurationInput ctx={ctx} id={id("due_in")} allowEmpty value={step.due_in as string | null}
                onChange={(due_in) => set({ due_in })} />
              <Checkbox checked={Boolean(step.business_time)} onChange={(e) => set({ business_time: e.target.checked })}>
                {t("wf.businessTime")}
              </Checkbox>
            </Space>
          </Item>
          <Item ctx={ctx} path={`${path}.assignee`} label={t("wf.assignee")} id={id("assignee")}>
            <PersonExpr ctx={ctx} id={id("assignee")} allowDefault value={step.assignee as string | null}
              onChange={(assignee) => set({ assignee })} />
          </Item>
        </>
      );
      break;
    case "update_record": {
      const fields = Object.entries((step.fields as Record<string, unknown>) ?? {});
      const write = (pairs: [string, unknown][]) => set({ fields: Object.fromEntries(pairs) });
      body = (
        <Item ctx={ctx} path={`${path}.fields`} label={t("wf.fieldsToSet")}>
          <Space direction="vertical" style={{ width: "100%" }}>
            {fields.map(([field, value], i) => (
              <Space key={i} wrap>
                <Select<string> showSearch style={{ width: 240 }} value={field || undefined} aria-label={t("wf.field")}
                  options={fieldChoices(entity, custom)} status={ctx.errors[`${path}.fields.${field}`] ? "error" : undefined}
                  onChange={(f) => write(fields.map((p, j) => (j === i ? [f, p[1]] : p)))} />
                <Input style={{ width: 240 }} value={String(value ?? "")} aria-label={t("wf.value")} list={`${id("fields")}-${i}`}
                  onChange={(e) => write(fields.map((p, j) => (j === i ? [p[0], e.target.value] : p)))} />
                <ValueList id={`${id("fields")}-${i}`} values={valuesOf(entity, field)} />
                <Button size="small" onClick={() => write(fields.filter((_p, j) => j !== i))}>{t("wf.remove")}</Button>
                {ctx.errors[`${path}.fields.${field}`] && <Typography.Text type="danger">{ctx.errors[`${path}.fields.${field}`].join("; ")}</Typography.Text>}
              </Space>
            ))}
            <Button size="small" onClick={() => write([...fields, ["", ""]])}>+ {t("wf.addField")}</Button>
          </Space>
        </Item>
      );
      break;
    }
    case "add_tags": case "remove_tags":
      body = (
        <Item ctx={ctx} path={`${path}.tags`} label={t("wf.tags")} id={id("tags")}>
          <Select<string[]> id={id("tags")} mode="tags" value={(step.tags as string[]) ?? []} open={false}
            tokenSeparators={[",", "，"]} onChange={(tags) => set({ tags })} />
        </Item>
      );
      break;
    case "assign_owner": {
      const mode = step.strategy ? String(step.strategy) : "user";
      const pool = step.role ? "role" : "department";
      body = (
        <>
          <Item ctx={ctx} path={path} label={t("wf.assignMode")}>
            <Radio.Group value={mode} onChange={(e) => onChange(e.target.value === "user"
              ? { type: "assign_owner", user_id: null }
              : { type: "assign_owner", strategy: e.target.value, department_id: null })}>
              <Radio value="user">{t("wf.assignUser")}</Radio>
              <Radio value="round_robin">{t("wf.roundRobin")}</Radio>
              <Radio value="least_loaded">{t("wf.leastLoaded")}</Radio>
            </Radio.Group>
          </Item>
          {mode === "user" ? (
            <Item ctx={ctx} path={`${path}.user_id`} label={t("wf.user")} id={id("user_id")}>
              <Select<string> id={id("user_id")} showSearch optionFilterProp="label" style={{ width: 320 }}
                value={(step.user_id as string | null) ?? undefined}
                options={dir.users.map((u) => ({ value: u.id, label: u.name }))} onChange={(user_id) => set({ user_id })} />
            </Item>
          ) : (
            <Space wrap align="start">
              <Form.Item label={t("wf.poolOf")}>
                <Radio.Group value={pool} onChange={(e) => set(e.target.value === "role"
                  ? { role: dir.roles[0]?.key ?? "", department_id: null } : { role: null, department_id: null })}>
                  <Radio value="department">{t("wf.department")}</Radio>
                  <Radio value="role">{t("wf.role")}</Radio>
                </Radio.Group>
              </Form.Item>
              {pool === "department" ? (
                <Item ctx={ctx} path={`${path}.department_id`} label={t("wf.department")} id={id("department_id")}>
                  <Select<string> id={id("department_id")} style={{ width: 260 }} value={(step.department_id as string | null) ?? undefined}
                    options={dir.departments.map((d) => ({ value: d.id, label: d.name }))} onChange={(department_id) => set({ department_id })} />
                </Item>
              ) : (
                <Item ctx={ctx} path={`${path}.role`} label={t("wf.role")} id={id("role")}>
                  <Select<string> id={id("role")} style={{ width: 260 }} value={(step.role as string | null) ?? undefined}
                    options={dir.roles.map((r) => ({ value: r.key, label: r.name }))} onChange={(role) => set({ role })} />
                </Item>
              )}
            </Space>
          )}
        </>
      );
      break;
    }
    case "notify":
      body = (
        <>
          <Item ctx={ctx} path={`${path}.to`} label={t("wf.notifyTo")} id={id("to")}>
            <PersonExpr ctx={ctx} id={id("to")} value={step.to as string} onChange={(to) => set({ to: to ?? "" })} />
          </Item>
          <Item ctx={ctx} path={`${path}.message`} label={t("wf.message")} id={id("message")} required>
            <Input.TextArea id={id("message")} autoSize value={String(step.message ?? "")} onChange={(e) => set({ message: e.target.value })} />
          </Item>
          <Item ctx={ctx} path={`${path}.channels`} label={t("wf.channels")}>
            <Checkbox.Group value={(step.channels as string[]) ?? ["in_app"]} onChange={(channels) => set({ channels })}
              options={["in_app", "email", "webhook", "chat"].map((c) => ({ value: c, label: t(`wf.channel.${c}` as WorkflowKey) }))} />
          </Item>
        </>
      );
      break;
    case "request_approval":
      body = (
        <Item ctx={ctx} path={`${path}.template_id`} label={t("wf.template")} id={id("template_id")}>
          <Select<string> id={id("template_id")} style={{ width: 320 }} value={String(step.template_id ?? "") || undefined}
            options={dir.templates.map((x) => ({ value: x.id, label: x.name }))} onChange={(template_id) => set({ template_id })} />
        </Item>
      );
      break;
    case "wait": {
      const until = step.until !== undefined && step.until !== null;
      body = (
        <>
          <Item ctx={ctx} path={path} label={t("wf.waitFor")}>
            <Radio.Group value={until ? "until" : "duration"} onChange={(e) => onChange(e.target.value === "until"
              ? { type: "wait", until: "" } : { type: "wait", duration: "PT1H" })}>
              <Radio value="duration">{t("wf.waitDuration")}</Radio>
              <Radio value="until">{t("wf.waitUntil")}</Radio>
            </Radio.Group>
          </Item>
          {until ? (
            <Item ctx={ctx} path={`${path}.until`} label={t("wf.waitUntil")} id={id("until")}>
              <Input id={id("until")} value={String(step.until ?? "")} onChange={(e) => set({ until: e.target.value })} />
            </Item>
          ) : (
            <Item ctx={ctx} path={`${path}.duration`} label={t("wf.waitDuration")} id={id("duration")}>
              <Space wrap>
                <DurationInput ctx={ctx} id={id("duration")} value={step.duration as string} onChange={(duration) => set({ duration })} />
                <Checkbox checked={Boolean(step.business_time)} onChange={(e) => set({ business_time: e.target.checked })}>
                  {t("wf.businessTime")}
                </Checkbox>
              </Space>
            </Item>
          )}
        </>
      );
      break;
    }
    case "branch":
      body = (
        <>
          <Item ctx={ctx} path={`${path}.condition`} label={t("wf.condition")} id={id("condition")}>
            <Input.TextArea id={id("condition")} autoSize value={String(step.condition ?? "")} onChange={(e) => set({ condition: e.target.value })} />
          </Item>
          <Typography.Text strong>{t("wf.then")}</Typography.Text>
          <div style={{ borderLeft: "3px solid #52c41a", paddingLeft: 12, margin: "8px 0 16px" }}>
            <StepList ctx={ctx} path={`${path}.then`} steps={(step.then as Node[]) ?? []} onChange={(then) => set({ then })} />
          </div>
          <Typography.Text strong>{t("wf.else")}</Typography.Text>
          <div style={{ borderLeft: "3px solid #faad14", paddingLeft: 12, margin: "8px 0" }}>
            <StepList ctx={ctx} path={`${path}.else`} steps={(step.else as Node[]) ?? []} onChange={(next) => set({ else: next })} />
          </div>
        </>
      );
      break;
    case "stop":
      body = <Typography.Text type="secondary">{t("wf.stopNote")}</Typography.Text>;
      break;
    default:
      body = <><Typography.Text type="secondary">{t("wf.unknownShape")}</Typography.Text><pre>{JSON.stringify(step, null, 2)}</pre></>;
  }
  const known = (STEP_TYPES as readonly string[]).includes(step.type);
  return (
    <Card size="small" style={{ marginBottom: 12 }} data-testid="step" data-path={path} extra={actions}
      title={(
        <Space>
          <span>{number}.</span>
          <Select<string> value={step.type} style={{ width: 180 }} aria-label={t("wf.stepType")}
            onChange={(type) => onChange(newStep(type))}
            options={[...STEP_TYPES.map((type) => ({ value: type, label: t(`wf.step.${type}` as WorkflowKey) })),
              ...(known ? [] : [{ value: step.type, label: step.type }])]} />
        </Space>
      )}>
      <Errs list={ctx.errors[path]?.length && !["assign_owner", "wait"].includes(step.type) ? ctx.errors[path] : undefined} />
      {body}
    </Card>
  );
}

// --- dry run and runs ------------------------------------------------------------------------------

interface RecordChoice { value: string; label: string }

async function recordsOf(entity: Entity): Promise<RecordChoice[]> {
  const query = { params: { query: { limit: 50 } } };
  const label = (...parts: (string | null | undefined)[]) => parts.filter(Boolean).join(" · ");
  switch (entity) {
    case "customer": {
      const { data } = await api.GET("/api/v1/customers", query);
      return (data?.items ?? []).map((r) => ({ value: r.id, label: label(r.name) }));
    }
    case "contact": {
      const { data } = await api.GET("/api/v1/contacts", query);
      return (data?.items ?? []).map((r) => ({ value: r.id, label: label(r.name) }));
    }
    case "interaction": {
      const { data } = await api.GET("/api/v1/interactions", query);
      return (data?.items ?? []).map((r) => ({ value: r.id, label: label(r.channel, r.summary) }));
    }
    case "objection": {
      const { data } = await api.GET("/api/v1/objections", query);
      return (data?.items ?? []).map((r) => ({ value: r.id, label: label(r.severity, r.category, r.description) }));
    }
    case "task": {
      const { data } = await api.GET("/api/v1/tasks", query);
      return (data?.items ?? []).map((r) => ({ value: r.id, label: label(r.title) }));
    }
    case "opportunity": {
      const { data } = await api.GET("/api/v1/opportunities", query);
      return (data?.items ?? []).map((r) => ({ value: r.id, label: label(r.name) }));
    }
  }
}

function show(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** What a step's output says it would do, as "key: value" lines (the `would` part first). */
function WouldDo({ output, input }: { output: Record<string, unknown>; input: Record<string, unknown> }) {
  const lines = Object.entries({ ...input, ...output }).filter(([, v]) => v !== null && v !== undefined);
  return (
    <Space direction="vertical" size={0}>
      {lines.map(([k, v]) => <span key={k}><Typography.Text type="secondary">{k}</Typography.Text>: <code>{show(v)}</code></span>)}
    </Space>
  );
}

function DryRunPanel({ t, workflow, entity }: { t: T; workflow: Workflow; entity: Entity | null }) {
  const [choices, setChoices] = useState<RecordChoice[]>([]);
  const [record, setRecord] = useState<string | undefined>();
  const [result, setResult] = useState<DryRun | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [running, setRunning] = useState(false);
  useEffect(() => {
    setRecord(undefined);
    if (entity) void recordsOf(entity).then(setChoices);
  }, [entity]);
  const run = async () => {
    setRunning(true);
    setError(null);
    const { data, error: problem } = await api.POST("/api/v1/workflows/{workflow_id}/dry-run", {
      params: { path: { workflow_id: workflow.id } },
      body: entity && record ? { record: { type: entity, id: record } } : {} });
    setRunning(false);
    setResult(data ?? null);
    if (isProblem(problem)) setError(problem.detail || problem.title);
  };
  return (
    <Card title={t("wf.dryRun")} style={{ marginTop: 24, maxWidth: 920 }} data-testid="dry-run">
      <Typography.Paragraph type="secondary">{entity ? t("wf.dryRunHelp") : t("wf.dryRunNoEntity")}</Typography.Paragraph>
      <Space wrap>
        {entity && (
          <Select<string> showSearch optionFilterProp="label" style={{ width: 420 }} value={record} options={choices}
            aria-label={t("wf.dryRunRecord")} placeholder={t("wf.dryRunRecord")} onChange={setRecord}
            onDropdownVisibleChange={(open) => { if (open) void recordsOf(entity).then(setChoices); }} />
        )}
        <Button type="primary" ghost loading={running} disabled={!!entity && !record} onClick={() => void run()}
          data-testid="dry-run-go">{t("wf.dryRun")}</Button>
      </Space>
      {error && <Alert type="error" showIcon message={error} style={{ marginTop: 12 }} />}
      {result && (
        <>
          <Typography.Title level={5} style={{ marginTop: 16 }}>{t("wf.dryRunResult", { n: result.workflow_version })}</Typography.Title>
          <Table rowKey="path" size="small" pagination={false} dataSource={result.steps} data-testid="dry-run-steps"
            columns={[
              { title: t("wf.stepPath"), dataIndex: "path", render: (p: string) => <code>{p}</code> },
              { title: t("wf.stepType"), dataIndex: "type", render: (s: string) => t(`wf.step.${s}` as WorkflowKey) ?? s },
              { title: t("wf.stepStatus"), dataIndex: "status", render: (s: string, r) => (
                <Space direction="vertical" size={0}><Tag color={s === "failed" ? "red" : "green"}>{s}</Tag>
                  {r.error && <Typography.Text type="danger">{r.error}</Typography.Text>}</Space>) },
              { title: t("wf.wouldDo"), key: "out", render: (_v, r) => <WouldDo input={r.input} output={r.output} /> },
            ]} />
        </>
      )}
    </Card>
  );
}

function RunsPanel({ t, workflow }: { t: T; workflow: Workflow }) {
  const { locale } = useApp();
  const [runs, setRuns] = useState<Run[] | null>(null);
  useEffect(() => {
    void api.GET("/api/v1/workflows/{workflow_id}/runs", { params: { path: { workflow_id: workflow.id }, query: { limit: 20 } } })
      .then(({ data }) => setRuns(data?.items ?? []));
  }, [workflow.id, workflow.version]);
  const columns = useMemo(() => [
    { title: t("wf.started"), dataIndex: "created_at", render: (v: string) => formatDateTime(v, locale) },
    { title: t("wf.status"), dataIndex: "status", render: (s: string) => <Tag>{s}</Tag> },
    { title: t("wf.runVersion"), dataIndex: "workflow_version", render: (v: number) => (
      <Tag color={v === workflow.version ? "blue" : "default"}>v{v}</Tag>) },
  ], [t, locale, workflow.version]);
  return (
    <Card title={t("wf.runs")} style={{ marginTop: 24, maxWidth: 920 }} data-testid="wf-runs">
      {runs?.length === 0 ? <Empty description={t("wf.noRuns")} /> : (
        <Table<Run> rowKey="id" size="small" loading={runs === null} dataSource={runs ?? []} pagination={false} columns={columns} />
      )}
    </Card>
  );
}
