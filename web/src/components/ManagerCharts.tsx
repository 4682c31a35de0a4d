// The department's numbers on the home page, for those who may read reports. Loaded on demand
// (with ECharts, tree-shaken through echarts/core), so the first page stays small.
import { Card, Col, Row, Statistic } from "antd";
import { BarChart, PieChart } from "echarts/charts";
import { AriaComponent, GridComponent, LegendComponent, TooltipComponent } from "echarts/components";
import * as echarts from "echarts/core";
import { CanvasRenderer } from "echarts/renderers";
import { useEffect, useRef, useState } from "react";

import { useApp } from "../AppContext";
import type { MessageKey } from "../i18n/messages";
import {
  type InteractionsReport, type ObjectionsReport, percent, pipelineBars, type PipelineReport, stack,
} from "../lib/charts";
import { callJson } from "../lib/imports";

echarts.use([AriaComponent, BarChart, PieChart, GridComponent, LegendComponent, TooltipComponent, CanvasRenderer]);

function Chart({ option, testId }: { option: echarts.EChartsCoreOption; testId: string }) {
  const { locale } = useApp();
  const el = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!el.current) return;
    const chart = echarts.init(el.current, null, { locale: locale === "en" ? "EN" : "ZH" });
    // richText: the tooltip is drawn on the canvas, not as HTML with style attributes (strict CSP).
    // aria: ECharts describes the chart's data in the container's aria-label, for screen readers.
    chart.setOption({ tooltip: { trigger: "axis", renderMode: "richText" }, aria: { enabled: true }, animation: false,
      ...option });
    const resize = () => chart.resize();
    window.addEventListener("resize", resize);
    return () => { window.removeEventListener("resize", resize); chart.dispose(); };
  }, [option, locale]);
  return <div ref={el} className="chart" data-testid={testId} role="img" />;
}

export default function ManagerCharts() {
  const { t, locale } = useApp();
  const [objections, setObjections] = useState<ObjectionsReport | null>(null);
  const [interactions, setInteractions] = useState<InteractionsReport | null>(null);
  const [pipeline, setPipeline] = useState<PipelineReport | null>(null);
  useEffect(() => {
    void callJson<ObjectionsReport>("/api/v1/reports/objections").then(({ data }) => setObjections(data ?? null));
    void callJson<InteractionsReport>("/api/v1/reports/interactions").then(({ data }) => setInteractions(data ?? null));
    void callJson<PipelineReport>("/api/v1/reports/pipeline-value").then(({ data }) => setPipeline(data ?? null));
  }, []);
  const label = (prefix: string, key: string) => t(`${prefix}.${key}` as MessageKey) ?? key;
  const byStatus = objections && stack(objections.by_category_status, (r) => r.category ?? "—",
    (r) => label("charts.status", r.status), (r) => r.count);
  const byChannel = interactions && stack(interactions.by_channel, (r) => r.week, (r) => label("channel", r.channel), (r) => r.count);
  const bars = pipeline && pipelineBars(pipeline);
  const money = new Intl.NumberFormat(locale, { style: "currency", currency: bars?.currency || "CNY", maximumFractionDigits: 0 });
  const stacked = (s: NonNullable<typeof byStatus>) => ({
    legend: { top: 0 }, grid: { left: 40, right: 16, top: 36, bottom: 28 },
    xAxis: { type: "category", data: s.categories }, yAxis: { type: "value", minInterval: 1 },
    series: s.series.map((x) => ({ ...x, type: "bar", stack: "all" })),
  });
  return (
    <Row gutter={[16, 16]} style={{ marginTop: 16 }} data-testid="manager-charts">
      <Col xs={24} lg={12}>
        <Card title={t("charts.objections")} extra={objections && (
          <Statistic title={t("charts.withinSla")} value={percent(objections.overall.share_resolved_within_sla)}
            valueStyle={{ fontSize: 16 }} data-testid="within-sla" />)}>
          {byStatus && <Chart testId="chart-objections" option={stacked(byStatus)} />}
        </Card>
      </Col>
      <Col xs={24} lg={12}>
        <Card title={t("charts.interactions")}>
          {byChannel && <Chart testId="chart-interactions" option={stacked(byChannel)} />}
        </Card>
      </Col>
      <Col xs={24}>
        <Card title={`${t("charts.pipeline")}${pipeline ? ` · ${pipeline.pipeline.name}` : ""}`}>
          {bars && <Chart testId="chart-pipeline" option={{
            legend: { top: 0 }, grid: { left: 80, right: 16, top: 36, bottom: 28 },
            xAxis: { type: "category", data: bars.stages },
            yAxis: { type: "value", axisLabel: { formatter: (v: number) => money.format(v) } },
            series: [{ name: t("charts.amount"), type: "bar", data: bars.amount },
              { name: t("charts.weighted"), type: "bar", data: bars.weighted }],
          }} />}
        </Card>
      </Col>
    </Row>
  );
}
