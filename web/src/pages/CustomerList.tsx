import { PlusOutlined, SettingOutlined } from "@ant-design/icons";
import {
  Alert, App, Button, Checkbox, Form, Input, List, Modal, Popover, Progress, Select, Space, Typography,
} from "antd";
import { useEffect, useMemo, useState } from "react";
import { Link, useNavigate, useSearchParams } from "react-router-dom";

import { api, type Schemas } from "../api/client";
import { useApp } from "../AppContext";
import { problemText } from "../components/forms";
import LightTable, { type LightColumn } from "../components/LightTable";
import type { MessageKey } from "../i18n/messages";
import { formatDateTime } from "../lib/format";
import { STAGE_COLORS, STAGES, stageKey } from "../lib/labels";
import { release, transfer } from "../api/work";
import { personName, useUserNames } from "../components/useUserNames";
import {
  CUSTOMER_COLUMNS, loadViews, runBulk, storeViews, toCsv, viewsKey, withView, type BulkResult, type CustomerColumn,
  type SavedView,
} from "../lib/work";
import { columnOrder, PAGE_SIZE, parseListQuery, sortParam, toSearchParams, type SortField } from "../lib/listQuery";

type Customer = Schemas["CustomerOut"];

const COLUMN_LABELS: Record<CustomerColumn, MessageKey> = {
  lifecycle_stage: "customers.stage", owner: "customers.owner", tier: "customers.tier", phone: "customers.phone",
  tags: "customers.tags", last_interaction_at: "customers.lastInteraction", next_follow_up_at: "customers.nextFollowUp",
  created_at: "customers.createdAt",
};

export default function CustomerList() {
  const { t, locale, me } = useApp();
  const { message } = App.useApp();
  const names = useUserNames();
  const storeKey = me ? viewsKey(me.tenant.id, me.user.id) : "huike.views.customers";
  const [prefs, setPrefs] = useState(() => loadViews(localStorage, storeKey));
  const [selected, setSelected] = useState<string[]>([]);
  const [bulk, setBulk] = useState<{ title: string; result: BulkResult } | null>(null);
  const [asking, setAsking] = useState<"tag" | "transfer" | "view" | null>(null);
  const [answer, setAnswer] = useState("");
  const [reload, setReload] = useState(0);
  const navigate = useNavigate();
  const [params, setParams] = useSearchParams();
  const query = useMemo(() => parseListQuery(params), [params]);
  const [rows, setRows] = useState<Customer[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [form] = Form.useForm();

  useEffect(() => {
    form.setFieldsValue({ lifecycle_stage: query.lifecycle_stage, tier: query.tier, tag: query.tag,
      overdue_follow_up: !!query.overdue_follow_up });
    let live = true;
    setRows(null);
    api.GET("/api/v1/customers", { params: { query: { ...query, limit: PAGE_SIZE } } }).then(({ data, error: problem }) => {
      if (!live) return;
      setRows(data?.items ?? []);
      setSelected([]);
      setNext(data?.next_cursor ?? null);
      setError(problem ? problemText(problem) : null);
    });
    return () => { live = false; };
  }, [query, form, reload]);

  const update = (changes: Partial<typeof query>) => setParams(toSearchParams({ ...query, cursor: undefined, ...changes }));
  const sortable = (field: SortField) => ({ sortOrder: columnOrder(query.sort, field) });
  const stageChip = (c: Customer) => c.lifecycle_stage
    ? <span className={`chip chip-${STAGE_COLORS[c.lifecycle_stage] ?? "default"}`}>{t(stageKey(c.lifecycle_stage))}</span> : null;
  const allColumns: LightColumn<Customer>[] = [
    { title: t("customers.name"), key: "name", ...sortable("name"), render: (c) => <Link to={`/customers/${c.id}`}>{c.name}</Link> },
    { title: t("customers.stage"), key: "lifecycle_stage", render: stageChip },
    { title: t("customers.owner"), key: "owner", hideBelow: "md",
      render: (c) => personName(c.owner_id, names) ?? t("customers.ownerNone") },
    { title: t("customers.tier"), key: "tier", hideBelow: "md", render: (c) => c.tier },
    { title: t("customers.phone"), key: "phone", hideBelow: "md", render: (c) => c.phone },
    { title: t("customers.tags"), key: "tags", hideBelow: "lg",
      render: (c) => (c.tags ?? []).map((tag) => <span key={tag} className="chip">{tag}</span>) },
    { title: t("customers.lastInteraction"), key: "last_interaction_at", hideBelow: "lg", ...sortable("last_interaction_at"),
      render: (c) => formatDateTime(c.last_interaction_at, locale) },
    { title: t("customers.nextFollowUp"), key: "next_follow_up_at", ...sortable("next_follow_up_at"),
      render: (c) => formatDateTime(c.next_follow_up_at, locale) },
    { title: t("customers.createdAt"), key: "created_at", hideBelow: "xl", ...sortable("created_at"),
      render: (c) => formatDateTime(c.created_at, locale) },
  ];
  const columns = allColumns.filter((c) => c.key === "name" || prefs.columns.includes(c.key as CustomerColumn));

  const savePrefs = (next: typeof prefs) => { setPrefs(next); storeViews(localStorage, storeKey, next); };
  const chosen = (rows ?? []).filter((r) => selected.includes(r.id));
  const bulkRun = async (title: string, action: (c: Customer) => Promise<string | null>) => {
    const byId = new Map(chosen.map((c) => [c.id, c]));
    setBulk({ title, result: { done: 0, total: chosen.length, errors: [] } });
    await runBulk(chosen.map((c) => ({ id: c.id, label: c.name ?? c.id })), (row) => action(byId.get(row.id)!),
      (result) => setBulk({ title, result }));
  };
  const doTag = (tag: string) => bulkRun(t("bulk.tag"), async (c) => {
    if (c.tags?.includes(tag)) return null;
    const { error: problem } = await api.PATCH("/api/v1/customers/{customer_id}", {
      params: { path: { customer_id: c.id } }, body: { tags: [...(c.tags ?? []), tag] }, headers: { "If-Match": `"${c.version}"` },
    });
    return problem ? problemText(problem) ?? t("common.error") : null;
  });
  const doRelease = () => bulkRun(t("pool.release"), async (c) => {
    const { error: problem } = await release(c.id);
    return problem ? problemText(problem) ?? t("common.error") : null;
  });
  const doTransfer = async (to: string) => {
    // One request for all of them: the API moves them together or refuses with its reason.
    setBulk({ title: t("transfer.title"), result: { done: 0, total: chosen.length, errors: [] } });
    const problem = await transfer(chosen.map((c) => c.id), to);
    setBulk({ title: t("transfer.title"), result: { done: chosen.length, total: chosen.length,
      errors: problem ? [{ id: "", label: t("bulk.selected"), message: problemText(problem) ?? t("common.error") }] : [] } });
  };
  const doExport = () => {
    // The rows on screen, as the API showed them to this user (hidden fields stay hidden).
    const csv = toCsv([t("customers.name"), t("customers.stage"), t("customers.owner"), t("customers.tier"), t("customers.phone"),
      t("customers.email"), t("customers.tags")], chosen.map((c) => [c.name, c.lifecycle_stage ? t(stageKey(c.lifecycle_stage)) : "",
      personName(c.owner_id, names), c.tier, c.phone, c.email, (c.tags ?? []).join(";")]));
    const link = document.createElement("a");
    link.href = URL.createObjectURL(new Blob([csv], { type: "text/csv;charset=utf-8" }));
    link.download = "customers.csv";
    link.click();
    URL.revokeObjectURL(link.href);
  };
  const closeBulk = () => { setBulk(null); setReload((n) => n + 1); };

  return (
    <>
      <Space style={{ width: "100%", justifyContent: "space-between", marginBottom: 12 }} wrap>
        <Typography.Title level={3} style={{ margin: 0 }}>{t("customers.title")}</Typography.Title>
        <Space wrap>
          <Select style={{ minWidth: 160 }} placeholder={t("views.saved")} aria-label={t("views.saved")} data-testid="saved-views"
            value={null} title={t("views.storedHere")}
            options={prefs.views.map((v) => ({ value: v.name, label: v.name }))}
            onChange={(name: string) => {
              const view = prefs.views.find((v) => v.name === name);
              if (!view) return;
              savePrefs({ ...prefs, columns: view.columns });
              setParams(new URLSearchParams(view.query));
            }} />
          <Button onClick={() => { setAnswer(""); setAsking("view"); }} data-testid="save-view">{t("views.save")}</Button>
          <Popover trigger="click" title={t("views.columns")} content={
            <Checkbox.Group style={{ display: "flex", flexDirection: "column" }} value={prefs.columns} data-testid="column-choice"
              options={CUSTOMER_COLUMNS.map((c) => ({ value: c, label: t(COLUMN_LABELS[c]) }))}
              onChange={(cols) => savePrefs({ ...prefs, columns: cols as CustomerColumn[] })} />
          }>
            <Button icon={<SettingOutlined />} data-testid="columns">{t("views.columns")}</Button>
          </Popover>
          <Button type="primary" icon={<PlusOutlined />} onClick={() => navigate("/customers/new")} data-testid="new-customer">
            {t("customers.new")}
          </Button>
        </Space>
      </Space>
      <Form form={form} layout="inline" style={{ marginBottom: 12, rowGap: 8 }}
        onFinish={(v) => update({ lifecycle_stage: v.lifecycle_stage, tier: v.tier, tag: v.tag,
          overdue_follow_up: v.overdue_follow_up || undefined })}>
        <Form.Item name="lifecycle_stage" label={t("customers.stage")}>
          <Select allowClear style={{ width: 140 }} options={STAGES.map((s) => ({ value: s, label: t(stageKey(s)) }))} />
        </Form.Item>
        <Form.Item name="tier" label={t("customers.tier")}><Input style={{ width: 100 }} /></Form.Item>
        <Form.Item name="tag" label={t("customers.tags")}><Input style={{ width: 120 }} /></Form.Item>
        <Form.Item name="overdue_follow_up" valuePropName="checked"><Checkbox>{t("customers.overdue")}</Checkbox></Form.Item>
        <Space>
          <Button htmlType="submit" type="primary">{t("common.search")}</Button>
          <Button onClick={() => setParams(new URLSearchParams())}>{t("common.reset")}</Button>
        </Space>
      </Form>
      {error && <Alert type="error" message={error} showIcon style={{ marginBottom: 12 }} />}
      {selected.length > 0 && (
        <Space style={{ marginBottom: 12 }} wrap data-testid="bulk-bar">
          <Typography.Text>{t("bulk.selected")} {selected.length}</Typography.Text>
          <Button onClick={() => { setAnswer(""); setAsking("tag"); }} data-testid="bulk-tag">{t("bulk.tag")}</Button>
          <Button onClick={() => { setAnswer(""); setAsking("transfer"); }} data-testid="bulk-transfer">{t("transfer.action")}</Button>
          <Button onClick={() => void doRelease()} data-testid="bulk-release">{t("pool.release")}</Button>
          <Button onClick={doExport} data-testid="bulk-export">{t("bulk.export")}</Button>
        </Space>
      )}
      <Modal open={asking !== null} onCancel={() => setAsking(null)} okButtonProps={{ disabled: !answer.trim() }}
        title={asking === "tag" ? t("bulk.tag") : asking === "transfer" ? t("transfer.title") : t("views.save")}
        onOk={() => {
          const value = answer.trim();
          const what = asking;
          setAsking(null);
          if (what === "tag") void doTag(value);
          else if (what === "transfer") void doTransfer(value);
          else if (what === "view") {
            const view: SavedView = { name: value, query: params.toString(), columns: prefs.columns };
            savePrefs({ ...prefs, views: withView(prefs.views, view) });
            message.success(t("customers.saved"));
          }
        }}>
        {asking === "transfer" ? (
          <Select style={{ width: "100%" }} aria-label={t("transfer.to")} value={answer || null} onChange={setAnswer} showSearch
            optionFilterProp="label" data-testid="bulk-transfer-to" options={[...names].map(([value, label]) => ({ value, label }))} />
        ) : (
          <Input aria-label={asking === "tag" ? t("bulk.tagName") : t("views.name")} value={answer}
            onChange={(e) => setAnswer(e.target.value)} data-testid="bulk-input" />
        )}
      </Modal>
      <Modal open={bulk !== null} title={bulk?.title} closable={false} maskClosable={false}
        footer={<Button type="primary" disabled={!bulk || bulk.result.done < bulk.result.total} onClick={closeBulk}
          data-testid="bulk-close">{t("bulk.close")}</Button>}>
        {bulk && (
          <div data-testid="bulk-progress">
            <Progress percent={Math.round((bulk.result.done / Math.max(bulk.result.total, 1)) * 100)}
              status={bulk.result.errors.length ? "exception" : undefined} />
            <Typography.Text>{t("bulk.succeeded")} {bulk.result.done - bulk.result.errors.length} / {bulk.result.total}</Typography.Text>
            {bulk.result.errors.length > 0 && (
              <List size="small" header={t("bulk.failed")} dataSource={bulk.result.errors} data-testid="bulk-errors"
                renderItem={(e) => <List.Item><Typography.Text strong>{e.label}</Typography.Text>: {e.message}</List.Item>} />
            )}
          </div>
        )}
      </Modal>
      <LightTable<Customer> testId="customer-table" rows={rows} columns={columns} rowKey={(c) => c.id} rowLabel={(c) => c.name ?? c.id}
        selected={selected} onSelect={setSelected} selectAllLabel={t("bulk.selected")}
        onSort={(key, order) => update({ sort: sortParam(key, order) })} />
      <Space style={{ marginTop: 12 }}>
        <Button disabled={!query.cursor} onClick={() => update({})}>{t("customers.first")}</Button>
        <Button disabled={!next} onClick={() => setParams(toSearchParams({ ...query, cursor: next ?? undefined }))}
          data-testid="next-page">{t("customers.next")}</Button>
      </Space>
    </>
  );
}
