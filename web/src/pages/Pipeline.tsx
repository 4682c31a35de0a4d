import { App, Alert, Space, Tag, Typography } from "antd";
import { useCallback, useEffect, useState } from "react";
import { Link } from "react-router-dom";

import { api, type Schemas } from "../api/client";
import { useApp } from "../AppContext";
import Board from "../components/Board";
import { problemText } from "../components/forms";
import { personName, useUserNames } from "../components/useUserNames";
import { formatDate } from "../lib/format";
import { formatMoney, totalByCurrency } from "../lib/work";

type Opportunity = Schemas["OpportunityOut"];
type Pipeline = Schemas["PipelineOut"];

export default function PipelinePage() {
  const { t, locale } = useApp();
  const { message } = App.useApp();
  const names = useUserNames();
  const [pipeline, setPipeline] = useState<Pipeline | null>(null);
  const [items, setItems] = useState<Opportunity[]>([]);
  const [error, setError] = useState<string | null>(null);

  const load = useCallback(async () => {
    const { data, error: problem } = await api.GET("/api/v1/pipelines", { params: { query: { limit: 50 } } });
    const chosen = data?.items.find((p) => p.is_default) ?? data?.items[0] ?? null;
    setPipeline(chosen);
    if (!chosen) { setError(problemText(problem)); return; }
    const deals = await api.GET("/api/v1/opportunities", { params: { query: { pipeline_id: chosen.id, limit: 200 } } });
    setItems(deals.data?.items ?? []);
    setError(deals.error ? problemText(deals.error) : null);
  }, []);
  useEffect(() => { void load(); }, [load]);

  const move = async (item: Opportunity, stage: string) => {
    const { data, error: problem } = await api.PATCH("/api/v1/opportunities/{opportunity_id}", {
      params: { path: { opportunity_id: item.id } }, body: { stage }, headers: { "If-Match": `"${item.version}"` },
    });
    if (data) {
      setItems((cur) => cur.map((o) => (o.id === data.id ? data : o)));
      message.success(t("pipeline.moved"));
    } else {
      // A stage's required fields, or a closed deal, are refused by the API with its reason.
      const fields = (problem as { errors?: { field: string; message: string }[] } | undefined)?.errors ?? [];
      const detail = [problemText(problem), ...fields.map((f) => `${f.field}: ${f.message}`)].filter(Boolean).join(" — ");
      message.error({ content: detail || t("common.error"), className: "move-refused" });
      void load();
    }
  };

  const columns = (pipeline?.stages ?? []).map((stage) => {
    const inStage = items.filter((o) => o.stage === stage.id);
    const totals = Object.entries(totalByCurrency(inStage));
    return {
      key: stage.id, title: `${stage.name} · ${stage.probability}%`,
      extra: <span data-testid={`total-${stage.name}`}>{inStage.length} {t("pipeline.count")}
        {totals.length ? ` · ${totals.map(([cur, sum]) => formatMoney(sum, cur, locale)).join(" + ")}` : ""}</span>,
    };
  });
  return (
    <>
      <Space direction="vertical" style={{ width: "100%", marginBottom: 12 }}>
        <Typography.Title level={3} style={{ margin: 0 }}>{t("pipeline.title")}{pipeline ? ` · ${pipeline.name}` : ""}</Typography.Title>
        <Typography.Text type="secondary">{t("board.dragHint")}</Typography.Text>
      </Space>
      {error && <Alert type="error" showIcon message={error} style={{ marginBottom: 12 }} />}
      <Board<Opportunity> testId="pipeline-board" items={items} columns={columns} moveLabel={t("objections.moveTo")}
        emptyText={t("board.empty")} columnOf={(o) => o.stage ?? ""} idOf={(o) => o.id} onMove={(o, to) => void move(o, to)}
        render={(o) => (
          <Space direction="vertical" size={2} style={{ width: "100%" }}>
            <Link to={`/customers/${o.customer_id}`}>{o.name}</Link>
            <Typography.Text strong data-testid="amount">{formatMoney(o.amount, o.currency, locale)}</Typography.Text>
            <Space size={4} wrap>
              {o.status && o.status !== "open" && <Tag color={o.status === "won" ? "green" : "red"}>{o.status}</Tag>}
              {o.expected_close_date && <Tag>{formatDate(o.expected_close_date, locale)}</Tag>}
              {o.owner_id && <Tag>{personName(o.owner_id, names)}</Tag>}
            </Space>
          </Space>
        )} />
    </>
  );
}
