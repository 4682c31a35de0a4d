// Search results grouped by type, in a fixed order, for the ⌘K palette and the header box.
import type { Schemas } from "../api/client";

/** What the palette shows of a hit (GET /api/v1/search's `SearchHit`). */
export type SearchHit = Pick<Schemas["SearchHit"], "type" | "id" | "title" | "highlight" | "customer_id" | "customer">;

export const TYPE_ORDER = ["customer", "contact", "opportunity", "objection", "task", "interaction"] as const;

export interface HitGroup {
  type: string;
  hits: SearchHit[];
}

export function groupHits(hits: readonly SearchHit[]): HitGroup[] {
  const groups = new Map<string, SearchHit[]>();
  for (const hit of hits) {
    const list = groups.get(hit.type) ?? [];
    list.push(hit);
    groups.set(hit.type, list);
  }
  const rank = (t: string) => {
    const i = (TYPE_ORDER as readonly string[]).indexOf(t);
    return i === -1 ? TYPE_ORDER.length : i;
  };
  return [...groups.entries()]
    .sort(([a], [b]) => rank(a) - rank(b) || a.localeCompare(b))
    .map(([type, list]) => ({ type, hits: list }));
}

/** Where a hit opens: its customer's page (every record type belongs to a customer). */
export function hitLink(hit: SearchHit): string | null {
  if (hit.type === "customer") return `/customers/${hit.id}`;
  const customer = hit.customer_id ?? hit.customer?.id;
  return customer ? `/customers/${customer}` : null;
}

/** The highlight's snippet as text parts: the API marks matches with <em>; never injected as HTML. */
export function snippetParts(snippet: string): { text: string; match: boolean }[] {
  const parts: { text: string; match: boolean }[] = [];
  const re = /<em>(.*?)<\/em>/g;
  let last = 0;
  for (let m = re.exec(snippet); m; m = re.exec(snippet)) {
    if (m.index > last) parts.push({ text: snippet.slice(last, m.index), match: false });
    parts.push({ text: m[1], match: true });
    last = m.index + m[0].length;
  }
  if (last < snippet.length) parts.push({ text: snippet.slice(last), match: false });
  return parts;
}

/** Whether the keyboard event is the palette's shortcut: ⌘K on a Mac, Ctrl+K elsewhere. */
export function isPaletteShortcut(e: Pick<KeyboardEvent, "key" | "metaKey" | "ctrlKey">): boolean {
  return e.key.toLowerCase() === "k" && (e.metaKey || e.ctrlKey);
}
