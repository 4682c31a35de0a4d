// The reports API's answers (typed by the generated client's schemas) turned into chart series.
// Pure: unit tested.
import type { Schemas } from "../api/client";

export type ObjectionFigures = Schemas["ObjectionFigures"];
export type ObjectionsReport = Schemas["ObjectionsReport"];
export type InteractionsReport = Schemas["InteractionsReport"];
export type PipelineReport = Schemas["PipelineValueReport"];

export interface Stacked {
  categories: string[];
  series: { name: string; data: number[] }[];
}

/** Rows of (x, series, value) as a stacked bar: x in first-seen order (or `order`), zeros filled in. */
export function stack<T>(rows: readonly T[], x: (r: T) => string, name: (r: T) => string, value: (r: T) => number,
  order?: readonly string[]): Stacked {
  const categories = order ? [...order] : [];
  const names: string[] = [];
  for (const r of rows) {
    if (!categories.includes(x(r))) categories.push(x(r));
    if (!names.includes(name(r))) names.push(name(r));
  }
  const series = names.map((n) => ({ name: n, data: categories.map(() => 0) }));
  for (const r of rows) {
    const s = series[names.indexOf(name(r))]!;
    s.data[categories.indexOf(x(r))]! += value(r);
  }
  return { categories, series };
}

/** Pipeline value per stage, in one currency (the one with the most money; others are listed apart). */
export function pipelineBars(report: PipelineReport): { currency: string; stages: string[]; amount: number[]; weighted: number[] } {
  const totals = new Map<string, number>();
  for (const s of report.stages) for (const c of s.by_currency) {
    totals.set(c.currency ?? "", (totals.get(c.currency ?? "") ?? 0) + Number(c.amount ?? 0));
  }
  const currency = [...totals.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? "CNY";
  const pick = (s: PipelineReport["stages"][number], key: "amount" | "weighted_amount") =>
    Number(s.by_currency.find((c) => (c.currency ?? "") === currency)?.[key] ?? 0);
  return {
    currency, stages: report.stages.map((s) => s.name),
    amount: report.stages.map((s) => pick(s, "amount")), weighted: report.stages.map((s) => pick(s, "weighted_amount")),
  };
}

/** A share (0..1) as a whole percent; null (nothing resolved with an SLA yet) as a dash. */
export function percent(share: number | null | undefined): string {
  return share === null || share === undefined ? "—" : `${Math.round(share * 100)}%`;
}
