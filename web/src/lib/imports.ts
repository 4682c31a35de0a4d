// Import and export jobs, typed by the generated client's schemas (services/records/api/imports.py
// and exports.py), and the helpers of the import wizard.
import { apiFetch, type Schemas } from "../api/client";
import { isProblem, type Problem } from "../api/problem";

export const IMPORT_FIELDS: Record<"customer" | "contact", readonly string[]> = {
  customer: ["name", "kind", "aliases", "uscc", "phone", "email", "website", "industry", "address", "source",
    "owner_id", "lifecycle_stage", "tier", "tags", "next_follow_up_at"],
  contact: ["customer_id", "name", "title", "role_in_deal", "phone", "email"],
};

export type SkippedRow = Schemas["SkippedRowOut"];

/** A job as any of its answers shows it: the upload's adds the file's header, a read the skipped rows. */
export type ImportJob = Schemas["ImportOut"]
  & Partial<Pick<Schemas["ImportCreatedOut"], "header" | "ignored_columns">>
  & Partial<Pick<Schemas["ImportDetailOut"], "skipped" | "skipped_truncated">>;

export type ExportJob = Schemas["ExportOut"];

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
