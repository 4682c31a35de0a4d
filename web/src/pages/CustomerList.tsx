import { DeleteOutlined, PlusOutlined, SettingOutlined } from "@ant-design/icons";
import {
  Alert, App, Button, Checkbox, Form, Input, List, Modal, Popconfirm, Popover, Progress, Select, Space, Tag, Typography,
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
import {
  type Answer, bulkRelease, bulkTags, createView, deleteView, savedViews, type SavedView, transfer, updateView,
} from "../api/work";
import type { Problem } from "../api/problem";
import { callJson, download, type ExportJob, finished } from "../lib/imports";
import { personName, useUserNames } from "../components/useUserNames";
import {
  bulkResult, columnsOfFields, CUSTOMER_COLUMNS, loadViews, storeViews, viewBody, viewQuery, viewsKey, type BulkResult,
  type CustomerColumn,
} from "../lib/work";
import { columnOrder, PAGE_SIZE, parseListQuery, sortParam, toSearchParams, type SortField } from "../lib/listQuery";

type Customer = Schemas["CustomerOut"];

const COLUMN_LABELS: Record<CustomerColumn, MessageKey> = {
  lifecycle_stage: "customers.stage", owner: "customers.owner", tier: "customers.tier", phone: "customers.phone",
  tags: "customers.tags", last_interaction_at: "customers.lastInteraction", next_follow_up_at: "customers.nextFollowUp",
  created_at: "customers.createdAt",
};

type Sharing = "private" | "department" | "tenant";
type BulkAnswer = Schemas["BulkResult"];
const EXPORT_POLL_MS = 500;

// Views this browser kept before they lived on the server move there once (per user), then leave
// localStorage; one move per page load even when the list mounts twice.
const moving = new Map<string, Promise<void>>();

function moveLocalViews(key: string): Promise<void> {
  let done = moving.get(key);
  if (!done) {
    done = (async () => {
      const state = loadViews(localStorage, key);
      if (!state.views.length) return;
      const left = [];
      for (const view of state.views) {
        const { error } = await createView({ ...viewBody(view.name, view.query, view.columns), shared: "private" });
        // 409: moved already (another tab); 422: a view the API refuses (a field now hidden) is dropped.
        // Anything else (offline, 503) stays here for the next time.
        if (error && error.status !== 409 && error.status !== 422) left.push(view);
      }
      storeViews(localStorage, key, { columns: loadViews(localStorage, key).columns, views: left });
    })();
    moving.set(key, done);
  }
  return done;
}

export default function CustomerList() {
  const { t, locale, me } = useApp();
  const { message } = App.useApp();
  const names = useUserNames();
  const storeKey = me ? viewsKey(me.tenant.id, me.user.id) : "huike.views.customers";
  const [prefs, setPrefs] = useState(() => loadViews(localStorage, storeKey));
  const [views, setViews] = useState<SavedView[]>([]);
  const [viewsVersion, setViewsVersion] = useState(0);
  const [current, setCurrent] = useState<string | null>(null);
  const [sharing, setSharing] = useState<Sharing>("private");
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

  useEffect(() => {
    let live = true;
    void moveLocalViews(storeKey).then(() => savedViews("customer")).then(({ data }) => {
      if (live && data) setViews(data.items);
    });
    return () => { live = false; };
  }, [storeKey, viewsVersion]);

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

  // Only the columns stay in this browser; views are on the server (any views still here move on load).
  const savePrefs = (next: typeof prefs) => {
    setPrefs(next);
    storeViews(localStorage, storeKey, { columns: next.columns, views: loadViews(localStorage, storeKey).views });
  };
  const chosen = (rows ?? []).filter((r) => selected.includes(r.id));
  // One request for the whole selection; its answer names each customer it left alone and why.
  const bulkCall = async (title: string, call: (ids: string[]) => Promise<Answer<BulkAnswer>>) => {
    const rowsOf = chosen.map((c) => ({ id: c.id, label: c.name ?? c.id }));
    setBulk({ title, result: { done: 0, total: rowsOf.length, errors: [] } });
    const { data, error: problem } = await call(rowsOf.map((r) => r.id));
    setBulk({ title, result: data ? bulkResult(rowsOf, data) : { done: rowsOf.length, total: rowsOf.length,
      errors: [{ id: "", label: t("bulk.selected"), message: problemText(problem) ?? t("common.error") }] } });
  };
  const doTag = (tag: string) => bulkCall(t("bulk.tag"), (ids) => bulkTags(ids, [tag]));
  const doRelease = () => bulkCall(t("pool.release"), bulkRelease);
  const doTransfer = async (to: string) => {
    // One request for all of them: the API moves them together or refuses with its reason.
    setBulk({ title: t("transfer.title"), result: { done: 0, total: chosen.length, errors: [] } });
    const problem = await transfer(chosen.map((c) => c.id), to);
    setBulk({ title: t("transfer.title"), result: { done: chosen.length, total: chosen.length,
      errors: problem ? [{ id: "", label: t("bulk.selected"), message: problemText(problem) ?? t("common.error") }] : [] } });
  };
  const doExport = async () => {
    // An export job of exactly the selected customers, with this user's rights (hidden fields stay
    // hidden), followed until its file is ready, then downloaded.
    const ids = chosen.map((c) => c.id);
    const title = t("bulk.exporting");
    const failed = (problem: Problem | string | null | undefined) => setBulk({ title, result: { done: ids.length,
      total: ids.length, errors: [{ id: "", label: t("bulk.selected"),
        message: (typeof problem === "string" ? problem : problemText(problem)) ?? t("common.error") }] } });
    setBulk({ title, result: { done: 0, total: ids.length, errors: [] } });
    const started = await callJson<ExportJob>("/api/v1/exports", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ entity: "customer", format: "csv", filters: { ids } }) });
    if (!started.data) return failed(started.error);
    let job = started.data;
    while (!finished(job)) {
      await new Promise((r) => setTimeout(r, EXPORT_POLL_MS));
      const { data, error: problem } = await callJson<ExportJob>(`/api/v1/exports/${job.id}`);
      if (!data) return failed(problem);
      job = data;
      setBulk({ title, result: { done: Math.min(job.rows_done, ids.length - 1), total: ids.length, errors: [] } });
    }
    if (job.status === "failed" || !job.file_url) return failed(job.error);
    const problem = await download(job.file_url, "customers.csv");
    if (problem) return failed(problem);
    setBulk({ title, result: { done: ids.length, total: ids.length, errors: [] } });
    message.success(t("bulk.exportReady"));
  };
  const saveView = async (name: string) => {
    const body = viewBody(name, params.toString(), prefs.columns);
    // Saving under the name of one of your views replaces it (names are what people pick by).
    const same = views.find((v) => v.mine && v.name === body.name);
    const { error: problem } = same
      ? await updateView(same, { columns: body.columns, filters: body.filters, sort: body.sort, shared: sharing })
      : await createView({ ...body, shared: sharing });
    if (problem) message.error(problemText(problem) ?? t("common.error"));
    else message.success(t("customers.saved"));
    setViewsVersion((n) => n + 1);
  };
  const currentView = views.find((v) => v.id === current);
  const removeView = async (view: SavedView) => {
    const problem = await deleteView(view);
    if (problem) message.error(problemText(problem) ?? t("common.error"));
    else message.success(t("views.deleted"));
    setCurrent(null);
    setViewsVersion((n) => n + 1);
  };
  const closeBulk = () => { setBulk(null); setReload((n) => n + 1); };

  return (
    <>
      <Space style={{ width: "100%", justifyContent: "space-between", marginBottom: 12 }} wrap>
        <Typography.Title level={3} style={{ margin: 0 }}>{t("customers.title")}</Typography.Title>
        <Space wrap>
          <Select style={{ minWidth: 180 }} placeholder={t("views.saved")} aria-label={t("views.saved")} data-testid="saved-views"
            value={currentView?.id ?? null} title={t("views.storedHere")}
            options={views.map((v) => ({ value: v.id, title: v.name, label: (
              <span data-testid={`view-${v.id}`}>
                {v.name}{v.shared !== "private" && (
                  <Tag color={v.mine ? "blue" : "purple"} style={{ marginInlineStart: 6 }} data-testid="view-shared">
                    {t("views.shared")}
                  </Tag>
                )}
              </span>
            ) }))}
            onChange={(id: string) => {
              const view = views.find((v) => v.id === id);
              if (!view) return;
              setCurrent(view.id);
              const columns = columnsOfFields(view.columns);
              if (columns.length) savePrefs({ ...prefs, columns });
              setParams(viewQuery(view));
            }} />
          {currentView?.mine && (
            <Popconfirm title={t("views.delete")} onConfirm={() => void removeView(currentView)}>
              <Button icon={<DeleteOutlined />} aria-label={t("views.delete")} data-testid="delete-view" />
            </Popconfirm>
          )}
          <Button data-testid="save-view" onClick={() => {
            setAnswer(currentView?.mine ? currentView.name : "");
            setSharing((currentView?.mine ? currentView.shared : "private") as Sharing);
            setAsking("view");
          }}>{t("views.save")}</Button>
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
          <Button onClick={() => void doExport()} data-testid="bulk-export">{t("bulk.export")}</Button>
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
          else if (what === "view") void saveView(value);
        }}>
        {asking === "transfer" ? (
          <Select style={{ width: "100%" }} aria-label={t("transfer.to")} value={answer || null} onChange={setAnswer} showSearch
            optionFilterProp="label" data-testid="bulk-transfer-to" options={[...names].map(([value, label]) => ({ value, label }))} />
        ) : (
          <Space direction="vertical" style={{ width: "100%" }}>
            <Input aria-label={asking === "tag" ? t("bulk.tagName") : t("views.name")} value={answer}
              onChange={(e) => setAnswer(e.target.value)} data-testid="bulk-input" />
            {asking === "view" && (
              <Select<Sharing> style={{ width: "100%" }} aria-label={t("views.sharing")} value={sharing} onChange={setSharing}
                data-testid="view-sharing" options={(["private", "department", "tenant"] as const).map((v) => ({
                  value: v, label: `${t("views.sharing")}: ${t(`views.${v}`)}` }))} />
            )}
          </Space>
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
