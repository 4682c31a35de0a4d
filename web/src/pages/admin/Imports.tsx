import { DownloadOutlined, UploadOutlined } from "@ant-design/icons";
import {
  Alert, Button, Card, Descriptions, Form, Progress, Select, Space, Steps, Table, Tag, Typography, Upload,
} from "antd";
import { useEffect, useRef, useState } from "react";
import { Link } from "react-router-dom";

import type { Problem } from "../../api/problem";
import { useApp } from "../../AppContext";
import { problemText } from "../../components/forms";
import type { MessageKey } from "../../i18n/messages";
import {
  callJson, download, type ExportJob, finished, IMPORT_FIELDS, type ImportJob, mappingBody, progress,
} from "../../lib/imports";

type Entity = "customer" | "contact";
const POLL_MS = 700;

function useJob<T extends { status: string }>(path: string | null, onDone?: (job: T) => void): T | null {
  const [job, setJob] = useState<T | null>(null);
  const done = useRef(onDone);
  done.current = onDone;
  useEffect(() => {
    setJob(null);
    if (!path) return;
    let live = true;
    const tick = async () => {
      const { data } = await callJson<T>(path);
      if (!live) return;
      if (data) setJob(data);
      if (data && finished(data)) done.current?.(data);
      else setTimeout(() => void tick(), POLL_MS);
    };
    void tick();
    return () => { live = false; };
  }, [path]);
  return job;
}

/** 导入: upload, check the automatic column match (editable), a dry run, then the import with its
 * progress, the error report and the rows skipped as duplicates; and exports with their file. */
export default function Imports() {
  const { t } = useApp();
  const [entity, setEntity] = useState<Entity>("customer");
  const [onDuplicate, setOnDuplicate] = useState("skip");
  const [file, setFile] = useState<File | null>(null);
  const [header, setHeader] = useState<string[]>([]);
  const [mapping, setMapping] = useState<Record<string, string | null>>({});
  const [dryRunId, setDryRunId] = useState<string | null>(null);
  const [importId, setImportId] = useState<string | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [sending, setSending] = useState(false);
  const dryRun = useJob<ImportJob>(dryRunId ? `/api/v1/imports/${dryRunId}` : null);
  const running = useJob<ImportJob>(importId ? `/api/v1/imports/${importId}` : null);

  const send = async (dry: boolean) => {
    if (!file) return;
    setSending(true);
    setProblem(null);
    const form = new FormData();
    form.append("entity", entity);
    form.append("on_duplicate", onDuplicate);
    form.append("dry_run", String(dry));
    if (header.length) form.append("mapping", JSON.stringify(mappingBody(header, mapping)));
    form.append("file", file, file.name);
    const { data, error } = await callJson<ImportJob>("/api/v1/imports", { method: "POST", body: form });
    setSending(false);
    if (error || !data) {
      setProblem(error ?? null);
      return;
    }
    if (data.header) {
      setHeader(data.header);
      setMapping(Object.fromEntries(data.header.map((c) => [c, data.mapping[c] ?? null])));
    }
    if (dry) setDryRunId(data.id);
    else setImportId(data.id);
  };

  const reset = () => {
    setFile(null); setHeader([]); setMapping({}); setDryRunId(null); setImportId(null); setProblem(null);
  };

  const fields = [...new Set([...IMPORT_FIELDS[entity], ...Object.values(mapping).filter((f): f is string => !!f)])];
  const step = importId ? 3 : dryRunId ? 2 : header.length ? 1 : 0;
  return (
    <>
      <Typography.Title level={3}>{t("imports.title")}</Typography.Title>
      <Card style={{ marginBottom: 16 }}>
        <Steps size="small" current={step} style={{ marginBottom: 16 }} items={[
          { title: t("imports.step.upload") }, { title: t("imports.step.mapping") }, { title: t("imports.step.dryRun") },
          { title: t("imports.step.run") }]} />
        <Form layout="inline" style={{ rowGap: 8, marginBottom: 12 }}>
          <Form.Item label={t("imports.entity")}>
            <Select value={entity} style={{ width: 120 }} disabled={!!dryRunId} aria-label={t("imports.entity")}
              onChange={(v) => { setEntity(v); setHeader([]); setMapping({}); }}
              options={[{ value: "customer", label: t("imports.entity.customer") }, { value: "contact", label: t("imports.entity.contact") }]} />
          </Form.Item>
          <Form.Item label={t("imports.onDuplicate")}>
            <Select value={onDuplicate} style={{ width: 160 }} onChange={setOnDuplicate} aria-label={t("imports.onDuplicate")}
              options={["skip", "update", "create"].map((v) => ({ value: v, label: t(`imports.dup.${v}` as MessageKey) }))} />
          </Form.Item>
          <Form.Item>
            <Upload accept=".csv,.xlsx" maxCount={1} showUploadList={false}
              beforeUpload={(f) => { reset(); setFile(f); return false; }}>
              <Button icon={<UploadOutlined />} data-testid="choose-file">{file ? file.name : t("imports.choose")}</Button>
            </Upload>
          </Form.Item>
          <Button type="primary" disabled={!file} loading={sending && !importId} onClick={() => send(true)}
            data-testid="dry-run">{t("imports.dryRun")}</Button>
        </Form>
        <Typography.Text type="secondary">{t("imports.help")}</Typography.Text>
        {problem && (
          <Alert type="error" showIcon style={{ marginTop: 12 }} data-testid="import-problem" message={problemText(problem)}
            description={problem.errors?.map((e) => <div key={e.field}>{e.field}: {e.message}</div>)} />
        )}
      </Card>

      {header.length > 0 && (
        <Card title={t("imports.mapping")} style={{ marginBottom: 16 }} data-testid="mapping">
          <Table rowKey="column" size="small" pagination={false}
            dataSource={header.map((column) => ({ column }))}
            columns={[
              { title: t("imports.column"), dataIndex: "column" },
              { title: t("imports.field"), key: "field", render: (_v, { column }) => (
                <Select allowClear style={{ width: 240 }} value={mapping[column] ?? undefined} placeholder={t("imports.ignored")}
                  aria-label={`${t("imports.field")} ${column}`} data-testid={`map-${column}`}
                  onChange={(v) => setMapping({ ...mapping, [column]: v ?? null })}
                  options={fields.map((f) => ({ value: f, label: f }))} />
              ) },
            ]} />
        </Card>
      )}

      {dryRun && (
        <Card title={t("imports.dryRunResult")} style={{ marginBottom: 16 }} data-testid="dry-run-result">
          {!finished(dryRun) ? <Progress percent={progress(dryRun)} /> : (
            <>
              <JobFigures job={dryRun} />
              <Space style={{ marginTop: 12 }} wrap>
                <Button onClick={() => send(true)} loading={sending && !importId}>{t("imports.dryRunAgain")}</Button>
                <Button type="primary" disabled={!!importId} onClick={() => send(false)} data-testid="start-import">
                  {t("imports.start")}
                </Button>
              </Space>
            </>
          )}
        </Card>
      )}

      {running && (
        <Card title={t("imports.running")} style={{ marginBottom: 16 }} data-testid="import-run">
          <Progress percent={progress(running)} status={running.status === "failed" ? "exception" : undefined}
            data-testid="import-progress" />
          <JobFigures job={running} />
          {finished(running) && <Button style={{ marginTop: 12 }} onClick={reset}>{t("imports.another")}</Button>}
        </Card>
      )}
      <Exports />
    </>
  );
}

function JobFigures({ job }: { job: ImportJob }) {
  const { t } = useApp();
  const [error, setError] = useState<string | null>(null);
  const get = async (path: string, name: string) => setError(problemText(await download(path, name)));
  return (
    <>
      {job.error && <Alert type="error" showIcon message={job.error} style={{ marginBottom: 8 }} />}
      <Descriptions size="small" column={{ xs: 1, sm: 3 }} data-testid="job-figures">
        <Descriptions.Item label={t("imports.rows")}>{job.rows_total ?? "—"}</Descriptions.Item>
        <Descriptions.Item label={job.dry_run ? t("imports.wouldCreate") : t("imports.created")}>{job.rows_created}</Descriptions.Item>
        <Descriptions.Item label={t("imports.updated")}>{job.rows_updated}</Descriptions.Item>
        <Descriptions.Item label={t("imports.failed")}><span data-testid="rows-failed">{job.rows_failed}</span></Descriptions.Item>
        <Descriptions.Item label={t("imports.skipped")}><span data-testid="rows-skipped">{job.rows_skipped}</span></Descriptions.Item>
        <Descriptions.Item label={t("imports.encoding")}>{job.encoding ?? "—"}</Descriptions.Item>
      </Descriptions>
      <Space wrap>
        {job.errors_url && job.rows_failed > 0 && (
          <Button icon={<DownloadOutlined />} onClick={() => get(job.errors_url!, "errors.csv")} data-testid="error-report">
            {t("imports.errorReport")}
          </Button>
        )}
        {job.skipped_url && job.rows_skipped > 0 && (
          <Button icon={<DownloadOutlined />} onClick={() => get(job.skipped_url!, "skipped.csv")}>{t("imports.skippedReport")}</Button>
        )}
      </Space>
      {error && <Alert type="error" showIcon message={error} style={{ marginTop: 8 }} />}
      {!!job.skipped?.length && (
        <Table rowKey="row" size="small" style={{ marginTop: 12 }} pagination={false} data-testid="skipped-rows"
          dataSource={job.skipped} columns={[
            { title: t("imports.row"), dataIndex: "row" },
            { title: t("imports.why"), key: "why", render: (_v, s) => (
              <Space>
                <Tag>{t("imports.duplicateBy")} {s.rule}</Tag>
                {s.matched_id ? <Link to={`/customers/${s.matched_id}`}>{t("imports.existing")}</Link>
                  : s.matched_row ? `${t("imports.sameAsRow")} ${s.matched_row}` : null}
              </Space>
            ) },
          ]} />
      )}
    </>
  );
}

function Exports() {
  const { t } = useApp();
  const [entity, setEntity] = useState("customer");
  const [format, setFormat] = useState<"csv" | "xlsx">("csv");
  const [exportId, setExportId] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const job = useJob<ExportJob>(exportId ? `/api/v1/exports/${exportId}` : null);
  const start = async () => {
    setError(null);
    const { data, error: problem } = await callJson<ExportJob>("/api/v1/exports", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ entity, format }) });
    if (data) setExportId(data.id);
    else setError(problemText(problem));
  };
  return (
    <Card title={t("exports.title")} data-testid="exports">
      <Space wrap>
        <Select value={entity} onChange={setEntity} style={{ width: 140 }} aria-label={t("imports.entity")}
          options={["customer", "contact", "interaction", "objection", "task", "opportunity"].map((e) => ({
            value: e, label: t(`exports.entity.${e}` as MessageKey) }))} />
        <Select value={format} onChange={setFormat} style={{ width: 100 }} aria-label={t("exports.format")}
          options={[{ value: "csv", label: "CSV" }, { value: "xlsx", label: "Excel" }]} />
        <Button type="primary" onClick={start} loading={!!job && !finished(job)} data-testid="start-export">{t("exports.start")}</Button>
      </Space>
      {error && <Alert type="error" showIcon message={error} style={{ marginTop: 12 }} />}
      {exportId && (
        <div style={{ marginTop: 12 }} data-testid="export-job">
          {!job || !finished(job) ? <Progress percent={50} status="active" showInfo={false} /> : job.status === "failed"
            ? <Alert type="error" showIcon message={job.error ?? t("common.error")} />
            : (
              <Space>
                <span>{t("exports.ready")} · {job.rows_done} {t("exports.rows")}</span>
                <Button icon={<DownloadOutlined />} onClick={async () => setError(problemText(await download(job.file_url!, `export.${job.format}`)))}
                  data-testid="export-download">{t("exports.download")}</Button>
              </Space>
            )}
        </div>
      )}
    </Card>
  );
}
