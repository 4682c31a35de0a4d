import { describe, expect, it } from "vitest";

import { percent, pipelineBars, stack } from "./charts";

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
});
