import { describe, expect, it } from "vitest";

import { overallWithinSla, percent, pipelineBars, resolutionSeries, seesDepartmentCharts, stack } from "./charts";

describe("chart series", () => {
  it("stacks rows per x and series, filling gaps with zero", () => {
    const rows = [
      { week: "2026-W47", channel: "phone", count: 3 },
      { week: "2026-W48", channel: "wechat", count: 2 },
      { week: "2026-W48", channel: "phone", count: 1 },
    ];
    expect(stack(rows, (r) => r.week, (r) => r.channel, (r) => r.count)).toEqual({
      categories: ["2026-W47", "2026-W48"],
      series: [{ name: "phone", data: [3, 1] }, { name: "wechat", data: [0, 2] }],
    });
  });

  it("charts the pipeline in its main currency", () => {
    const bars = pipelineBars({ pipeline: { id: "p", name: "默认" }, stages: [
      { id: "a", name: "初步接洽", position: 1, kind: "open", probability: 10, count: 2, by_currency: [
        { currency: "CNY", count: 1, amount: "1000.00", weighted_amount: "100.00" },
        { currency: "USD", count: 1, amount: "10.00", weighted_amount: "1.00" }] },
      { id: "b", name: "方案报价", position: 2, kind: "open", probability: 40, count: 0, by_currency: [] },
    ], totals: [] });
    expect(bars).toEqual({ currency: "CNY", stages: ["初步接洽", "方案报价"], amount: [1000, 0], weighted: [100, 0] });
  });

  it("shows shares as percents", () => {
    expect(percent(0.756)).toBe("76%");
    expect(percent(null)).toBe("—");
  });

  it("charts resolution per week: median hours and the share within SLA as a percent", () => {
    const report = { from: "2026-03-01", to: "2026-03-15", time_zone: "Asia/Shanghai", weeks: [
      { week: "2026-W10", week_start: "2026-03-02", resolved: 3, median_hours_to_resolve: 4, resolved_with_sla: 2,
        resolved_within_sla: 1, share_resolved_within_sla: 0.5 },
      { week: "2026-W11", week_start: "2026-03-09", resolved: 1, median_hours_to_resolve: 3.5 },
    ] };
    expect(resolutionSeries(report)).toEqual({ weeks: ["2026-W10", "2026-W11"], median: [4, 3.5], withinSla: [50, null] });
    expect(overallWithinSla(report)).toBe(0.5);
    expect(overallWithinSla({ ...report, weeks: [] })).toBeNull();
  });

  it("shows the department charts to managers only", () => {
    const grant = (scope: string) => ({ entities: { report: { actions: ["read"], scope } }, fields: {} });
    const role = (key: string) => [{ id: "r", key, name: key }];
    expect(seesDepartmentCharts({ roles: role("sales"), permissions: grant("own") })).toBe(false);
    expect(seesDepartmentCharts({ roles: role("manager"), permissions: grant("department") })).toBe(true);
    expect(seesDepartmentCharts({ roles: role("team_lead"), permissions: grant("department") })).toBe(true);
    expect(seesDepartmentCharts({ roles: role("manager"), permissions: grant("own") })).toBe(true);
    expect(seesDepartmentCharts({ roles: role("admin"), permissions: { entities: { "*": { actions: ["read"], scope: "all" } }, fields: {} } })).toBe(true);
    expect(seesDepartmentCharts({ roles: role("manager"), permissions: { entities: {}, fields: {} } })).toBe(false);
    expect(seesDepartmentCharts(null)).toBe(false);
  });
});
