import { beforeEach, describe, expect, it } from "vitest";

import { clearDraft, draftKey, loadDraft, meaningful, saveDraft } from "./drafts";

describe("drafts", () => {
  beforeEach(() => localStorage.clear());

  it("are kept per workspace, user, form and record", () => {
    expect(draftKey("t1", "u1", "customer", null)).toBe("huike.draft.t1.u1.customer.new");
    expect(draftKey("t1", "u2", "customer", "c9")).not.toBe(draftKey("t1", "u1", "customer", "c9"));
  });

  it("survive until cleared", () => {
    const key = draftKey("t", "u", "customer", null);
    saveDraft(localStorage, key, { name: "上海草稿" }, new Date("2026-12-03T08:00:00Z"));
    expect(loadDraft(localStorage, key)).toEqual({ savedAt: "2026-12-03T08:00:00.000Z", values: { name: "上海草稿" } });
    clearDraft(localStorage, key);
    expect(loadDraft(localStorage, key)).toBeNull();
  });

  it("drop a corrupt draft instead of failing every time", () => {
    localStorage.setItem("k", "{not json");
    expect(loadDraft(localStorage, "k")).toBeNull();
    expect(localStorage.getItem("k")).toBeNull();
  });

  it("keep only what was typed", () => {
    expect(meaningful({ name: "", tags: [], kind: undefined })).toBeNull();
    expect(meaningful({ name: "腾讯", tags: [], tier: null, kind: "company" })).toEqual({ name: "腾讯", kind: "company" });
  });
});
