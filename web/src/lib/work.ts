// Logic of the sales-day pages that is worth a unit test: objection moves, SLA badges, money,
// task tabs, the customers list's columns and saved views, bulk runs.
import type { Locale } from "../i18n/locale";
import type { MessageKey } from "../i18n/messages";

export const OBJECTION_STATUSES = ["open", "in_progress", "resolved", "closed", "reopened"] as const;
export type ObjectionStatus = (typeof OBJECTION_STATUSES)[number];

export function objectionStatusKey(status: string): MessageKey {
  return (OBJECTION_STATUSES as readonly string[]).includes(status)
    ? (`objections.status.${status}` as MessageKey) : "objections.status.open";
}

export function severityKey(severity: string): MessageKey | null {
  return ["low", "medium", "high", "critical"].includes(severity) ? (`objections.severity.${severity}` as MessageKey) : null;
}

/** The SLA badge of an objection, from the API's `sla_state` (no state: no badge). */
export function slaBadge(state: string | null | undefined): { key: MessageKey; color: string } | null {
  switch (state) {
    case "on_track": return { key: "objections.sla.on_track", color: "green" };
    case "at_risk": return { key: "objections.sla.at_risk", color: "orange" };
    case "breached": return { key: "objections.sla.breached", color: "red" };
    case "met": return { key: "objections.sla.met", color: "blue" };
    default: return null;
  }
}

/** An amount (the API's decimal string) in the reader's locale: "¥120,000.00" / "CN¥120,000.00". */
export function formatMoney(amount: string | number | null | undefined, currency: string | null | undefined,
  locale: Locale): string {
  if (amount === null || amount === undefined || amount === "") return "—";
  const value = typeof amount === "number" ? amount : Number(amount);
  if (Number.isNaN(value)) return "—";
  return new Intl.NumberFormat(locale, { style: "currency", currency: currency || "CNY" }).format(value);
}

/** Sum of amounts per currency; the board's column total shows the first (tenants work in CNY). */
export function totalByCurrency(items: { amount?: string | null; currency?: string | null }[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of items) {
    if (!item.amount) continue;
    const cur = item.currency || "CNY";
    out[cur] = (out[cur] ?? 0) + Number(item.amount);
  }
  return out;
}

export type TaskTab = "today" | "overdue" | "mine";

/** The tasks list's query for a tab: open tasks due today (local day), overdue ones, or mine. */
export function taskQuery(tab: TaskTab, userId: string, now: Date): Record<string, string | boolean | number> {
  if (tab === "overdue") return { status: "open", overdue: true, sort: "due_at", limit: 100 };
  if (tab === "mine") return { status: "open", assignee_id: userId, sort: "due_at", limit: 100 };
  const start = new Date(now.getFullYear(), now.getMonth(), now.getDate());
  const end = new Date(start.getTime() + 24 * 3600 * 1000 - 1);
  return { status: "open", due_from: start.toISOString(), due_to: end.toISOString(), sort: "due_at", limit: 100 };
}

// --- the customers list: columns (kept per user in this browser) and saved views (on the server) ----

export const CUSTOMER_COLUMNS = ["lifecycle_stage", "owner", "tier", "phone", "tags", "last_interaction_at",
  "next_follow_up_at", "created_at"] as const;
export type CustomerColumn = (typeof CUSTOMER_COLUMNS)[number];
export const DEFAULT_COLUMNS: CustomerColumn[] = ["lifecycle_stage", "owner", "tier", "phone", "tags",
  "last_interaction_at", "next_follow_up_at"];

/** A view as this browser kept it before views moved to the server (read once, to move it). */
export interface SavedView {
  name: string;
  query: string; // the list's URL search string (filters and sort)
  columns: CustomerColumn[];
}

interface ViewState { columns: CustomerColumn[]; views: SavedView[] }

export function viewsKey(tenantId: string, userId: string): string {
  return `huike.views.customers.${tenantId}.${userId}`;
}

export function loadViews(storage: Storage, key: string): ViewState {
  try {
    const raw = JSON.parse(storage.getItem(key) ?? "null") as Partial<ViewState> | null;
    const columns = (raw?.columns ?? DEFAULT_COLUMNS).filter((c): c is CustomerColumn =>
      (CUSTOMER_COLUMNS as readonly string[]).includes(c));
    const views = Array.isArray(raw?.views) ? raw.views.filter((v) => v && typeof v.name === "string") : [];
    return { columns, views };
  } catch {
    return { columns: [...DEFAULT_COLUMNS], views: [] };
  }
}

export function storeViews(storage: Storage, key: string, state: ViewState): void {
  storage.setItem(key, JSON.stringify(state));
}

/** The record field a column shows (a server view names fields; the owner column shows `owner_id`). */
export function columnField(column: CustomerColumn): string {
  return column === "owner" ? "owner_id" : column;
}

export function columnsOfFields(fields: string[]): CustomerColumn[] {
  return fields.map((f) => (f === "owner_id" ? "owner" : f))
    .filter((c): c is CustomerColumn => (CUSTOMER_COLUMNS as readonly string[]).includes(c));
}

/** What the API stores for a view: the list's filters and sort, from the list's URL search string
 * (the page's cursor is not part of a view). */
export interface ViewBody {
  name: string;
  entity: "customer";
  columns: string[];
  filters: Record<string, string>;
  sort: string | null;
}

export function viewBody(name: string, query: string, columns: CustomerColumn[]): ViewBody {
  const filters: Record<string, string> = {};
  let sort: string | null = null;
  new URLSearchParams(query).forEach((value, key) => {
    if (key === "sort") sort = value;
    else if (key !== "cursor" && key !== "limit" && value !== "") filters[key] = value;
  });
  return { name: name.trim(), entity: "customer", columns: columns.map(columnField), filters, sort };
}

/** The list's URL search string for a server view. */
export function viewQuery(view: { filters: Record<string, string>; sort?: string | null }): URLSearchParams {
  const out = new URLSearchParams(view.filters);
  if (view.sort) out.set("sort", view.sort);
  return out;
}

// --- bulk actions: one request for the whole selection, per-row errors from its answer ---------------

export interface BulkRow { id: string; label: string }
export interface BulkResult { done: number; total: number; errors: { id: string; label: string; message: string }[] }
export interface BulkAnswer { done: string[]; failed: { id: string; title: string; message: string }[] }

/** The progress dialog's figures from a bulk answer: every row is done, the failed ones by name. */
export function bulkResult(rows: BulkRow[], answer: BulkAnswer): BulkResult {
  const labels = new Map(rows.map((r) => [r.id, r.label]));
  return { done: rows.length, total: rows.length, errors: answer.failed.map((f) => ({
    id: f.id, label: labels.get(f.id) ?? f.id, message: f.message || f.title })) };
}
