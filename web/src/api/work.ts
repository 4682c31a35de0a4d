// The sales day's calls to records that report problems as an `Answer` (the public pool, its
// rules, claim, duplicate check, transfer): answers typed by the generated client's schemas.
import { api, apiFetch, type Schemas } from "./client";
import { isProblem, type Problem } from "./problem";

export type Customer = Schemas["CustomerOut"];
export type PoolCustomer = Schemas["PoolCustomerOut"];
export type PoolRules = Schemas["PoolRules"];
export type Duplicate = Schemas["DuplicateOut"];

/** `data` on a 2xx, else the problem (or a bare one for a non-JSON failure). */
export type Answer<T> = { data: T; error?: undefined } | { data?: undefined; error: Problem };

async function call<T>(method: string, path: string, body?: unknown): Promise<Answer<T>> {
  const init: RequestInit = { method };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { "Content-Type": "application/json" };
  }
  let res: Response;
  try {
    res = await apiFetch(new Request(path, init));
  } catch {
    return { error: { type: "network", title: "Network error", status: 0 } };
  }
  const text = await res.text();
  const parsed: unknown = text ? JSON.parse(text) : null;
  if (res.ok) return { data: parsed as T };
  return { error: isProblem(parsed) ? parsed : { type: "http", title: res.statusText || String(res.status), status: res.status } };
}

export const pool = (cursor?: string) =>
  call<Schemas["PoolCustomerOutPage"]>("GET", `/api/v1/pool?limit=50${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
export const poolRules = () => call<PoolRules>("GET", "/api/v1/pool/rules");
export const claim = (id: string) => call<Customer>("POST", `/api/v1/pool/${id}/claim`);
export const release = (id: string) => call<null>("POST", `/api/v1/customers/${id}/release`);
export async function transfer(customerIds: string[], toUserId: string): Promise<Problem | null> {
  const { error } = await api.POST("/api/v1/customers/transfer", { body: {
    customer_ids: customerIds, to_user_id: toUserId, include_tasks: true, include_objections: true, include_opportunities: true,
  } });
  return error ? (error as unknown as Problem) : null;
}
// Bulk actions on a selection: one request, an answer per customer (done, or failed and why).
export const bulkTags = (ids: string[], add: string[]) =>
  call<Schemas["BulkResult"]>("POST", "/api/v1/customers/bulk-tags", { customer_ids: ids, add });
export const bulkRelease = (ids: string[]) =>
  call<Schemas["BulkResult"]>("POST", "/api/v1/customers/bulk-release", { customer_ids: ids });

// Saved list views, kept per user on the server (private, or shared with the department or everyone).
export type SavedView = Schemas["SavedViewOut"];
export const savedViews = (entity: string) =>
  call<Schemas["SavedViewList"]>("GET", `/api/v1/saved-views?entity=${encodeURIComponent(entity)}`);
export const createView = (body: Schemas["SavedViewCreate"]) => call<SavedView>("POST", "/api/v1/saved-views", body);
export async function updateView(view: SavedView, body: Schemas["SavedViewPatch"]): Promise<Answer<SavedView>> {
  const { data, error } = await api.PATCH("/api/v1/saved-views/{view_id}", {
    params: { path: { view_id: view.id } }, body, headers: { "If-Match": `"${view.version}"` } });
  return data ? { data: data as SavedView } : { error: error as unknown as Problem };
}
export async function deleteView(view: SavedView): Promise<Problem | null> {
  const { error } = await api.DELETE("/api/v1/saved-views/{view_id}", {
    params: { path: { view_id: view.id } }, headers: { "If-Match": `"${view.version}"` } });
  return error ? (error as unknown as Problem) : null;
}

export const duplicateCheck = (record: Record<string, string>, excludeId?: string) =>
  call<Schemas["DuplicateCheckOut"]>("POST", "/api/v1/duplicates/check",
    { entity: "customer", record, exclude_id: excludeId ?? null });
export async function merge(intoId: string, mergeIds: string[]): Promise<Problem | null> {
  const { error } = await api.POST("/api/v1/customers/{customer_id}/merge",
    { params: { path: { customer_id: intoId } }, body: { merge_ids: mergeIds } });
  return error ? (error as unknown as Problem) : null;
}

// --- users by id (owners and assignees show names); one list per session, shared by every page ---

let users: Promise<Map<string, string>> | null = null;

export function userNames(): Promise<Map<string, string>> {
  users ??= api.GET("/api/v1/users", { params: { query: { limit: 200 } } }).then(({ data }) => {
    if (!data) users = null; // no permission or a failure: try again on the next page
    return new Map((data?.items ?? []).map((u) => [u.id, u.name]));
  });
  return users;
}

export function forgetUserNames(): void {
  users = null;
}
