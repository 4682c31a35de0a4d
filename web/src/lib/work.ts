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

// --- the customers list: columns and saved views, kept per user in this browser ---------------------

export const CUSTOMER_COLUMNS = ["lifecycle_stage", "owner", "tier", "phone", "tags", "last_interaction_at",
  "next_follow_up_at", "created_at"] as const;
export type CustomerColumn = (typeof CUSTOMER_COLUMNS)[number];
export const DEFAULT_COLUMNS: CustomerColumn[] = ["lifecycle_stage", "owner", "tier", "phone", "tags",
  "last_interaction_at", "next_follow_up_at"];

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

/** Saving a view under an existing name replaces it (names are what the user picks by). */
export function withView(views: SavedView[], view: SavedView): SavedView[] {
  return [...views.filter((v) => v.name !== view.name), view].sort((a, b) => a.name.localeCompare(b.name));
}

// --- bulk actions: one request per row, with progress and per-row errors ----------------------------

export interface BulkRow { id: string; label: string }
export interface BulkResult { done: number; total: number; errors: { id: string; label: string; message: string }[] }

/** Runs `action` on every row, two at a time (the API's own limits stay the judge of each row), and
 * reports progress after each; a row's failure is recorded and the run goes on. */
export async function runBulk(rows: BulkRow[], action: (row: BulkRow) => Promise<string | null>,
  progress: (result: BulkResult) => void, parallel = 2): Promise<BulkResult> {
  const result: BulkResult = { done: 0, total: rows.length, errors: [] };
  let next = 0;
  const worker = async () => {
    while (next < rows.length) {
      const row = rows[next++];
      let failure: string | null;
      try {
        failure = await action(row);
      } catch (exc) {
        failure = exc instanceof Error ? exc.message : String(exc);
      }
      if (failure) result.errors.push({ id: row.id, label: row.label, message: failure });
      result.done += 1;
      progress({ ...result, errors: [...result.errors] });
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, rows.length) }, worker));
  return result;
}

/** Rows as CSV (RFC 4180 quoting; a BOM so that Excel opens the Chinese right). */
export function toCsv(header: string[], rows: (string | null | undefined)[][]): string {
  const cell = (v: string | null | undefined) => {
    // A leading = + - @ would make a spreadsheet run the cell as a formula.
    const s = /^[=+\-@]/.test(v ?? "") ? `'${v}` : v ?? "";
    return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return "\uFEFF" + [header, ...rows].map((r) => r.map(cell).join(",")).join("\r\n") + "\r\n";
}
