import { Alert, Button, Card, Form, Input, Select, Space, Spin, Typography } from "antd";
import { useEffect, useMemo, useRef, useState } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";

import { api } from "../api/client";
import { duplicateCheck, merge, type Duplicate } from "../api/work";
import { useApp } from "../AppContext";
import { problemText, showProblem } from "../components/forms";
import { clearDraft, draftKey, loadDraft, meaningful, saveDraft } from "../lib/drafts";
import { STAGES, stageKey } from "../lib/labels";

interface Values {
  name: string;
  kind: string;
  phone?: string;
  email?: string;
  industry?: string;
  source?: string;
  address?: string;
  lifecycle_stage: string;
  tier?: string;
  tags: string[];
}
const FIELDS = ["name", "kind", "phone", "email", "industry", "source", "address", "lifecycle_stage", "tier", "tags"] as const;
const BLANK: Values = { name: "", kind: "company", lifecycle_stage: "lead", tags: [] };
const SAVE_DRAFT_MS = 300;
const CHECK_DUPLICATES_MS = 400;

function nullIfEmpty(value: string | undefined): string | null {
  return value && value.trim() ? value.trim() : null;
}

export default function CustomerForm() {
  const { id } = useParams();
  const { t, me } = useApp();
  const navigate = useNavigate();
  const [form] = Form.useForm<Values>();
  const [version, setVersion] = useState<number | null>(null);
  const [loading, setLoading] = useState(!!id);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [restored, setRestored] = useState(false);
  const key = useMemo(() => (me ? draftKey(me.tenant.id, me.user.id, "customer", id ?? null) : null), [me, id]);
  const timer = useRef<ReturnType<typeof setTimeout>>();
  const checkTimer = useRef<ReturnType<typeof setTimeout>>();
  const checkSeq = useRef(0);
  const [merged, setMerged] = useState<string | null>(null);
  const [duplicates, setDuplicates] = useState<{ items: Duplicate[]; blocked: boolean }>({ items: [], blocked: false });

  // 可能重复: asked of the API while typing a name or phone (debounced; only the latest answer counts).
  const checkDuplicates = (name: string | undefined, phone: string | undefined) => {
    clearTimeout(checkTimer.current);
    checkTimer.current = setTimeout(async () => {
      const record: Record<string, string> = {};
      if (name?.trim()) record.name = name.trim();
      if (phone?.trim()) record.phone = phone.trim();
      const seq = ++checkSeq.current;
      if (!record.name && !record.phone) { setDuplicates({ items: [], blocked: false }); return; }
      const answer = await duplicateCheck(record, id);
      if (seq !== checkSeq.current || !answer.data) return;
      setDuplicates({ items: answer.data.duplicates.filter((d) => d.status === "active"), blocked: answer.data.blocked });
    }, CHECK_DUPLICATES_MS);
  };
  useEffect(() => () => clearTimeout(checkTimer.current), []);

  useEffect(() => {
    let live = true;
    const applyDraft = () => {
      const draft = key ? loadDraft<Partial<Values>>(localStorage, key) : null;
      if (draft) {
        form.setFieldsValue(draft.values);
        setRestored(true);
      }
    };
    if (!id) {
      form.setFieldsValue(BLANK);
      applyDraft();
      return;
    }
    api.GET("/api/v1/customers/{customer_id}", { params: { path: { customer_id: id } } }).then(({ data, error: problem }) => {
      if (!live) return;
      setLoading(false);
      if (!data) { setError(problemText(problem) ?? t("common.notFound")); return; }
      setVersion(data.version);
      form.setFieldsValue({
        name: data.name, kind: data.kind, phone: data.phone ?? undefined, email: data.email ?? undefined,
        industry: data.industry ?? undefined, source: data.source ?? undefined, address: data.address ?? undefined,
        lifecycle_stage: data.lifecycle_stage, tier: data.tier ?? undefined, tags: data.tags,
      });
      applyDraft();
    });
    return () => { live = false; };
  }, [id, key, form, t]);

  // Every change is kept as a draft (debounced) until the save succeeds.
  const onValuesChange = (changed: Partial<Values>, all: Values) => {
    if ("name" in changed || "phone" in changed) checkDuplicates(all.name, all.phone);
    if (!key) return;
    clearTimeout(timer.current);
    timer.current = setTimeout(() => {
      const kept = meaningful({ ...all } as unknown as Record<string, unknown>);
      if (kept) saveDraft(localStorage, key, kept);
    }, SAVE_DRAFT_MS);
  };

  const submit = async (values: Values) => {
    setBusy(true);
    setError(null);
    clearTimeout(timer.current);
    if (key) saveDraft(localStorage, key, values); // what was sent survives a failed request
    const body = {
      name: values.name, kind: values.kind, lifecycle_stage: values.lifecycle_stage, tags: values.tags ?? [],
      phone: nullIfEmpty(values.phone), email: nullIfEmpty(values.email), industry: nullIfEmpty(values.industry),
      source: nullIfEmpty(values.source), address: nullIfEmpty(values.address), tier: nullIfEmpty(values.tier),
    };
    const answer = id
      ? await api.PATCH("/api/v1/customers/{customer_id}", {
        params: { path: { customer_id: id } }, body, headers: version !== null ? { "If-Match": `"${version}"` } : {},
      })
      : await api.POST("/api/v1/customers", { body });
    setBusy(false);
    if (answer.data) {
      if (key) clearDraft(localStorage, key);
      navigate(`/customers/${answer.data.id}`);
      return;
    }
    setError(showProblem(form, answer.error, FIELDS));
  };

  if (loading) return <Spin />;
  const required = [{ required: true, message: t("common.required") }];
  return (
    <Card title={<Typography.Title level={3} style={{ margin: 0 }}>{id ? t("customers.edit") : t("customers.new")}</Typography.Title>}
      style={{ maxWidth: 720 }}>
      {restored && (
        <Alert type="info" showIcon style={{ marginBottom: 16 }} message={t("customers.draftRestored")} data-testid="draft-restored"
          action={<Button size="small" onClick={() => { if (key) clearDraft(localStorage, key); navigate(0); }}>
            {t("customers.discardDraft")}</Button>} />
      )}
      {error && <Alert type="error" showIcon message={error} style={{ marginBottom: 16 }} data-testid="form-error" />}
      {merged && <Alert type="success" showIcon style={{ marginBottom: 16 }} message={`${t("dup.merged")}: ${merged}`}
        data-testid="merged" />}
      {duplicates.items.length > 0 && (
        <Alert type="warning" showIcon style={{ marginBottom: 16 }} data-testid="duplicate-warning"
          message={t("dup.title")} description={
            <>
              {duplicates.blocked && <div>{t("dup.blocked")}</div>}
              {duplicates.items.map((d) => (
                <Space key={d.id} wrap>
                  {d.visible ? <Link to={`/customers/${d.id}`} title={t("dup.open")}>{d.name ?? d.id}</Link> : t("dup.hidden")}
                  {id && d.visible && (
                    <Button size="small" data-testid={`merge-${d.id}`} onClick={async () => {
                      // The duplicate goes into the customer being edited (the API keeps this one's values).
                      const problem = await merge(id, [d.id]);
                      if (problem) { setError(problemText(problem)); return; }
                      setDuplicates((cur) => ({ ...cur, items: cur.items.filter((x) => x.id !== d.id) }));
                      setMerged(d.name ?? d.id);
                      // The merge changed this customer: its new version, so that saving is not refused as stale.
                      const fresh = await api.GET("/api/v1/customers/{customer_id}", { params: { path: { customer_id: id } } });
                      if (fresh.data) setVersion(fresh.data.version);
                    }}>{t("dup.merge")}</Button>
                  )}
                </Space>
              ))}
            </>
          } />
      )}
      <Form form={form} layout="vertical" onFinish={submit} onValuesChange={onValuesChange} scrollToFirstError>
        <Form.Item name="name" label={t("customers.name")} rules={required}><Input data-testid="field-name" /></Form.Item>
        <Form.Item name="kind" label={t("customers.kind")}>
          <Select options={[{ value: "company", label: t("customers.kind.organization") },
            { value: "person", label: t("customers.kind.person") }]} />
        </Form.Item>
        <Space.Compact block style={{ gap: 16, flexWrap: "wrap" }}>
          <Form.Item name="phone" label={t("customers.phone")} style={{ flex: 1, minWidth: 200 }}>
            <Input inputMode="tel" data-testid="field-phone" />
          </Form.Item>
          <Form.Item name="email" label={t("customers.email")} style={{ flex: 1, minWidth: 200 }}>
            <Input inputMode="email" data-testid="field-email" />
          </Form.Item>
        </Space.Compact>
        <Form.Item name="lifecycle_stage" label={t("customers.stage")}>
          <Select options={STAGES.map((s) => ({ value: s, label: t(stageKey(s)) }))} />
        </Form.Item>
        <Form.Item name="tier" label={t("customers.tier")}><Input /></Form.Item>
        <Form.Item name="tags" label={t("customers.tags")}><Select mode="tags" tokenSeparators={[",", "，"]} /></Form.Item>
        <Form.Item name="industry" label={t("customers.industry")}><Input /></Form.Item>
        <Form.Item name="source" label={t("customers.source")}><Input /></Form.Item>
        <Form.Item name="address" label={t("customers.address")}><Input.TextArea autoSize /></Form.Item>
        <Space>
          <Button type="primary" htmlType="submit" loading={busy} data-testid="customer-save">{t("common.save")}</Button>
          <Button onClick={() => navigate(-1)}>{t("common.cancel")}</Button>
        </Space>
      </Form>
    </Card>
  );
}
