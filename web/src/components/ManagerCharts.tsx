// The department's numbers on the home page, for those who may read reports. Loaded on demand
// (with ECharts, tree-shaken through echarts/core), so the first page stays small.
import { Card, Col, Row, Statistic } from "antd";
import { BarChart, LineChart, PieChart } from "echarts/charts";
import { AriaComponent, GridComponent, LegendComponent, TooltipComponent } from "echarts/components";
import * as echarts from "echarts/core";
import { CanvasRenderer } from "echarts/renderers";
import { useEffect, useRef, useState } from "react";

import { useApp } from "../AppContext";
import type { MessageKey } from "../i18n/messages";
import {
  type InteractionsReport, type ObjectionsReport, overallWithinSla, percent, pipelineBars, type PipelineReport,
  resolutionSeries, type ResolutionReport, type SatisfactionReport, stack,
} from "../lib/charts";
import { callJson } from "../lib/imports";
import { personName, useUserNames } from "./useUserNames";

echarts.use([AriaComponent, BarChart, LineChart, PieChart, GridComponent, LegendComponent, TooltipComponent, CanvasRenderer]);

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
  const [resolution, setResolution] = useState<ResolutionReport | null>(null);
  const [satisfaction, setSatisfaction] = useState<SatisfactionReport | null>(null);
  const names = useUserNames();
  useEffect(() => {
    void callJson<ResolutionReport>("/api/v1/reports/objection-resolution").then(({ data }) => setResolution(data ?? null));
    void callJson<SatisfactionReport>("/api/v1/reports/satisfaction").then(({ data }) => setSatisfaction(data ?? null));
    void callJson<ObjectionsReport>("/api/v1/reports/objections").then(({ data }) => setObjections(data ?? null));
    void callJson<InteractionsReport>("/api/v1/reports/interactions").then(({ data }) => setInteractions(data ?? null));
    void callJson<PipelineReport>("/api/v1/reports/pipeline-value").then(({ data }) => setPipeline(data ?? null));
  }, []);
  const label = (prefix: string, key: string) => t(`${prefix}.${key}` as MessageKey) ?? key;
  const byStatus = objections && stack(objections.by_category_status, (r) => r.category ?? "—",
    (r) => label("charts.status", r.status), (r) => r.count);
  const byChannel = interactions && stack(interactions.by_channel, (r) => r.week, (r) => label("channel", r.channel), (r) => r.count);
  const byOwner = interactions && stack(interactions.by_owner, (r) => r.week, (r) => personName(r.owner_id, names) ?? "—",
    (r) => r.count);
  const weekly = resolution && resolutionSeries(resolution);
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
      <Col xs={24} lg={12}>
        <Card title={t("charts.resolution")} extra={resolution && (
          <Statistic title={t("charts.withinSla")} value={percent(overallWithinSla(resolution))}
            valueStyle={{ fontSize: 16 }} data-testid="resolution-within-sla" />)}>
          {weekly && <Chart testId="chart-resolution" option={{
            legend: { top: 0 }, grid: { left: 48, right: 48, top: 36, bottom: 28 },
            xAxis: { type: "category", data: weekly.weeks },
            yAxis: [{ type: "value", name: t("charts.hours") }, { type: "value", name: "%", min: 0, max: 100 }],
            series: [{ name: t("charts.medianHours"), type: "bar", data: weekly.median },
              { name: t("charts.withinSla"), type: "line", yAxisIndex: 1, connectNulls: true, data: weekly.withinSla }],
          }} />}
        </Card>
      </Col>
      <Col xs={24} lg={12}>
        <Card title={t("charts.interactionsByOwner")}>
          {byOwner && <Chart testId="chart-owners" option={stacked(byOwner)} />}
        </Card>
      </Col>
      <Col xs={24} lg={12}>
        <Card title={t("charts.satisfaction")} extra={satisfaction && (
          <Statistic title={t("charts.average")} value={satisfaction.overall.average ?? "—"}
            suffix={satisfaction.overall.average === null ? undefined : "/ 5"}
            valueStyle={{ fontSize: 16 }} data-testid="satisfaction-average" />)}>
          {satisfaction && <Chart testId="chart-satisfaction" option={{
            grid: { left: 40, right: 16, top: 16, bottom: 28 },
            xAxis: { type: "category", data: satisfaction.by_category.map((c) => c.category) },
            yAxis: { type: "value", min: 0, max: 5 },
            series: [{ name: t("charts.average"), type: "bar", data: satisfaction.by_category.map((c) => c.average) }],
          }} />}
        </Card>
      </Col>
      <Col xs={24} lg={12}>
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
