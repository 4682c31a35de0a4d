import { Alert, Button, Drawer, Space, Switch, Table, Tag, Timeline, Typography } from "antd";
import { useCallback, useEffect, useState } from "react";
import { Link } from "react-router-dom";

import { api, type Schemas } from "../../api/client";
import { useApp } from "../../AppContext";
import { problemText } from "../../components/forms";
import type { MessageKey } from "../../i18n/messages";
import { wfText } from "../../i18n/messages/workflows";
import { formatDateTime } from "../../lib/format";

type Workflow = Schemas["WorkflowOut"];
type Run = Schemas["RunOut"];
const RUN_COLORS: Record<string, string> = { succeeded: "green", failed: "red", running: "blue", waiting: "gold", skipped: "default" };

/** 工作流: each workflow with its switch, and its runs with every step (input, output, error). */
export function WorkflowsTab() {
  const { t, locale } = useApp();
  const [items, setItems] = useState<Workflow[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [open, setOpen] = useState<Workflow | null>(null);
  const [runs, setRuns] = useState<Run[] | null>(null);
  const [run, setRun] = useState<Run | null>(null);

  const load = useCallback(async () => {
    const { data, error: problem } = await api.GET("/api/v1/workflows", { params: { query: { limit: 200 } } });
    setItems(data?.items ?? []);
    setError(problemText(problem));
  }, []);
  useEffect(() => { void load(); }, [load]);

  const toggle = async (w: Workflow, enabled: boolean) => {
    const { error: problem } = await api.PATCH("/api/v1/workflows/{workflow_id}", {
      params: { path: { workflow_id: w.id } }, body: { enabled } });
    setError(problemText(problem));
    await load();
  };
  const show = async (w: Workflow) => {
    setOpen(w); setRuns(null); setRun(null);
    const { data } = await api.GET("/api/v1/workflows/{workflow_id}/runs", { params: { path: { workflow_id: w.id }, query: { limit: 50 } } });
    setRuns(data?.items ?? []);
  };
  const showRun = async (r: Run) => {
    const { data } = await api.GET("/api/v1/workflow-runs/{run_id}", { params: { path: { run_id: r.id } } });
    setRun(data ?? r);
  };
  return (
    <>
      {error && <Alert type="error" showIcon message={error} style={{ marginBottom: 12 }} />}
      <Link to="/workflows/new"><Button type="primary" style={{ marginBottom: 12 }}>{wfText(locale, "wf.new")}</Button></Link>
      <Table<Workflow> rowKey="id" size="small" loading={items === null} dataSource={items ?? []} pagination={false}
        scroll={{ x: "max-content" }} data-testid="workflows" columns={[
          { title: t("admin.name"), dataIndex: "name" },
          { title: t("workflows.triggers"), key: "tr", render: (_v, w) => w.triggers.map((x, i) => <Tag key={i}>{String((x as { type?: string }).type ?? "")}</Tag>) },
          { title: t("workflows.steps"), key: "st", render: (_v, w) => w.steps.length },
          { title: t("workflows.enabled"), key: "en", render: (_v, w) => (
            <Switch checked={w.enabled} onChange={(v) => toggle(w, v)} aria-label={`${t("workflows.enabled")} ${w.name}`} /> ) },
          { title: "", key: "runs", render: (_v, w) => (
            <Space>
              <Link to={`/workflows/${w.id}`}><Button size="small">{wfText(locale, "wf.edit")}</Button></Link>
              <Button size="small" onClick={() => show(w)}>{t("workflows.runs")}</Button>
            </Space>) },
        ]} />
      <Drawer open={!!open} width={640} onClose={() => setOpen(null)} title={`${t("workflows.runs")} · ${open?.name ?? ""}`}>
        <Table<Run> rowKey="id" size="small" loading={runs === null} dataSource={runs ?? []} pagination={false} data-testid="runs"
          onRow={(r) => ({ onClick: () => void showRun(r) })} rowClassName={() => "clickable"} columns={[
            { title: t("workflows.started"), dataIndex: "created_at", render: (v: string) => formatDateTime(v, locale) },
            { title: t("admin.status"), dataIndex: "status", render: (s: string) => <Tag color={RUN_COLORS[s]}>{t(`workflows.status.${s}` as MessageKey) ?? s}</Tag> },
            { title: t("workflows.record"), key: "rec", render: (_v, r) => r.record ? `${r.record.type} ${r.record.id.slice(0, 8)}` : "—" },
          ]} />
        {run && (
          <div style={{ marginTop: 16 }} data-testid="run-steps">
            <Typography.Title level={5}>{t("workflows.stepsOfRun")}</Typography.Title>
            {run.error && <Alert type="error" showIcon message={run.error} style={{ marginBottom: 8 }} />}
            <Timeline items={(run.steps ?? []).map((s) => ({
              color: s.status === "failed" ? "red" : s.status === "succeeded" ? "green" : "gray",
              children: (
                <Space direction="vertical" size={0}>
                  <span><code>{s.path}</code> {s.type} · {t(`workflows.status.${s.status}` as MessageKey) ?? s.status} · {s.duration_ms} ms</span>
                  {s.error && <Typography.Text type="danger">{s.error}</Typography.Text>}
                  {Object.keys(s.output).length > 0 && <Typography.Text type="secondary"><code>{JSON.stringify(s.output)}</code></Typography.Text>}
                </Space>
              ),
            }))} />
          </div>
        )}
      </Drawer>
    </>
  );
}
