// The customers list's filters, sort and page live in the URL (shareable, survives reload).

export const PAGE_SIZE = 50;
export const SORTABLE = ["name", "created_at", "updated_at", "last_interaction_at", "next_follow_up_at"] as const;
export type SortField = (typeof SORTABLE)[number];

export interface ListQuery {
  lifecycle_stage?: string;
  tier?: string;
  tag?: string;
  overdue_follow_up?: boolean;
  sort: string; // "-created_at"
  cursor?: string;
}

export function parseListQuery(params: URLSearchParams): ListQuery {
  const sort = params.get("sort") ?? "-created_at";
  const field = sort.replace(/^-/, "");
  return {
    lifecycle_stage: params.get("lifecycle_stage") || undefined,
    tier: params.get("tier") || undefined,
    tag: params.get("tag") || undefined,
    overdue_follow_up: params.get("overdue_follow_up") === "true" || undefined,
    sort: (SORTABLE as readonly string[]).includes(field) ? sort : "-created_at",
    cursor: params.get("cursor") || undefined,
  };
}

export function toSearchParams(query: ListQuery): URLSearchParams {
  const out = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === "" || value === false) continue;
    if (key === "sort" && value === "-created_at") continue;
    out.set(key, String(value));
  }
  return out;
}

/** The table's sort order for a column, from the API's sort parameter. */
export function columnOrder(sort: string, field: SortField): "ascend" | "descend" | null {
  if (sort === field) return "ascend";
  if (sort === `-${field}`) return "descend";
  return null;
}

export function sortParam(field: string | undefined, order: "ascend" | "descend" | null | undefined): string {
  if (!field || !order) return "-created_at";
  return order === "descend" ? `-${field}` : field;
}
