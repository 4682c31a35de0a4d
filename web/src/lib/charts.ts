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

export type ResolutionReport = Schemas["ObjectionResolutionReport"];
export type SatisfactionReport = Schemas["SatisfactionReport"];

/** Who sees the department's charts on the home page: a manager, i.e. someone who may read reports
 * beyond their own records (a department or whole-workspace report scope) or who holds the manager
 * (or admin) role. A sales rep, whose reports cover only their own records, sees "my day" alone. */
export function seesDepartmentCharts(me: Pick<Schemas["MeOut"], "roles" | "permissions"> | null): boolean {
  if (!me) return false;
  const grants = me.permissions.entities ?? {};
  const grant = grants.report ?? grants["*"];
  if (!grant || !(grant.actions.includes("read") || grant.actions.includes("*"))) return false;
  return grant.scope === "department" || grant.scope === "all"
    || me.roles.some((r) => r.key === "manager" || r.key === "admin");
}

/** Per week of resolution: the median hours to resolve, and the share within SLA as a percent
 * (null where nothing resolved that week had a due time, or the due time is hidden). */
export function resolutionSeries(report: ResolutionReport): { weeks: string[]; median: (number | null)[]; withinSla: (number | null)[] } {
  return {
    weeks: report.weeks.map((w) => w.week),
    median: report.weeks.map((w) => w.median_hours_to_resolve ?? null),
    withinSla: report.weeks.map((w) =>
      w.share_resolved_within_sla === null || w.share_resolved_within_sla === undefined
        ? null : Math.round(w.share_resolved_within_sla * 1000) / 10),
  };
}

/** The share within SLA over every week of the report (resolved within / resolved with a due time). */
export function overallWithinSla(report: ResolutionReport): number | null {
  let within = 0;
  let withSla = 0;
  for (const w of report.weeks) {
    within += w.resolved_within_sla ?? 0;
    withSla += w.resolved_with_sla ?? 0;
  }
  return withSla === 0 ? null : within / withSla;
}
