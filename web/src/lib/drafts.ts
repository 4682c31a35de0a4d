// Drafts of forms kept in localStorage until the record is saved: a failed request, a reload or a
// closed tab never loses what was typed. Keyed per workspace and user, so a shared computer does
// not show one person's draft to another.

export interface Draft<T> {
  savedAt: string;
  values: T;
}

export function draftKey(tenantId: string, userId: string, form: string, recordId: string | null): string {
  return `huike.draft.${tenantId}.${userId}.${form}.${recordId ?? "new"}`;
}

export function saveDraft<T>(storage: Storage, key: string, values: T, now: Date = new Date()): void {
  try {
    storage.setItem(key, JSON.stringify({ savedAt: now.toISOString(), values } satisfies Draft<T>));
  } catch {
    // Storage full or disabled (private mode): the form still works, only without a draft.
  }
}

export function loadDraft<T>(storage: Storage, key: string): Draft<T> | null {
  const raw = storage.getItem(key);
  if (!raw) return null;
  try {
    const draft = JSON.parse(raw) as Draft<T>;
    return draft && typeof draft === "object" && "values" in draft ? draft : null;
  } catch {
    storage.removeItem(key); // a corrupt draft would fail every time
    return null;
  }
}

export function clearDraft(storage: Storage, key: string): void {
  storage.removeItem(key);
}

/** Only the fields a person typed something into: an empty form leaves no draft. */
export function meaningful<T extends Record<string, unknown>>(values: T): Partial<T> | null {
  const kept: Partial<T> = {};
  let any = false;
  for (const [k, v] of Object.entries(values)) {
    if (v === undefined || v === null || v === "" || (Array.isArray(v) && v.length === 0)) continue;
    (kept as Record<string, unknown>)[k] = v;
    any = true;
  }
  return any ? kept : null;
}
