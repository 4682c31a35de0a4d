// Import and export jobs as the records API answers them (services/records/api/imports.py and
// exports.py answer free-form objects in the OpenAPI document, so their shape is written here).
import { apiFetch } from "../api/client";
import { isProblem, type Problem } from "../api/problem";

export const IMPORT_FIELDS: Record<"customer" | "contact", readonly string[]> = {
  customer: ["name", "kind", "aliases", "uscc", "phone", "email", "website", "industry", "address", "source",
    "owner_id", "lifecycle_stage", "tier", "tags", "next_follow_up_at"],
  contact: ["customer_id", "name", "title", "role_in_deal", "phone", "email"],
};

export interface SkippedRow {
  row: number;
  rule: string;
  matched_id?: string | null;
  matched_row?: number | null;
  values?: Record<string, string>;
}

export interface ImportJob {
  id: string;
  entity: "customer" | "contact";
  status: "queued" | "running" | "succeeded" | "failed";
  file_name: string;
  encoding: string | null;
  dry_run: boolean;
  mapping: Record<string, string>;
  header?: string[];
  ignored_columns?: string[];
  rows_total: number | null;
  rows_done: number;
  rows_failed: number;
  rows_created: number;
  rows_updated: number;
  rows_skipped: number;
  error: string | null;
  errors_url?: string;
  skipped_url?: string;
  skipped?: SkippedRow[];
}

export interface ExportJob {
  id: string;
  entity: string;
  format: "csv" | "xlsx";
  status: "queued" | "running" | "succeeded" | "failed";
  rows_done: number;
  error: string | null;
  file_url?: string;
}

export function finished(job: { status: string }): boolean {
  return job.status === "succeeded" || job.status === "failed";
}

/** The mapping to send: every column of the file, to its chosen field or null (ignored), so the
 * automatic match the person removed stays removed. */
export function mappingBody(header: readonly string[], chosen: Record<string, string | null | undefined>
): Record<string, string | null> {
  return Object.fromEntries(header.map((column) => [column, chosen[column] || null]));
}

/** Percent done; rows_total is unknown until the worker has counted the file. */
export function progress(job: ImportJob): number {
  if (job.status === "succeeded") return 100;
  if (!job.rows_total) return 0;
  return Math.min(99, Math.floor((job.rows_done / job.rows_total) * 100));
}

export async function callJson<T>(path: string, init: RequestInit = {}): Promise<{ data?: T; error?: Problem }> {
  const res = await apiFetch(new Request(path, init));
  const body: unknown = await res.json().catch(() => null);
  if (res.ok) return { data: body as T };
  return { error: isProblem(body) ? body : { type: "about:blank", title: res.statusText, status: res.status } };
}

/** A file the API serves to a signed-in caller (it needs the bearer token, so no plain link):
 * fetched, then handed to the browser as a download. */
export async function download(path: string, fallbackName: string): Promise<Problem | null> {
  const res = await apiFetch(new Request(path));
  if (!res.ok) {
    const body: unknown = await res.json().catch(() => null);
    return isProblem(body) ? body : { type: "about:blank", title: res.statusText, status: res.status };
  }
  const name = /filename="([^"]+)"/.exec(res.headers.get("Content-Disposition") ?? "")?.[1] ?? fallbackName;
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  return null;
}
