import { describe, expect, it } from "vitest";

import { groupHits, hitLink, isPaletteShortcut, snippetParts, type SearchHit } from "./search";

const hit = (type: string, id: string, extra: Partial<SearchHit> = {}): SearchHit => ({ type, id, title: id, highlight: {}, ...extra });

describe("search results", () => {
  it("are grouped by type, customers first, keeping the engine's order inside a group", () => {
    const groups = groupHits([hit("task", "t1"), hit("customer", "c1"), hit("zzz", "z1"), hit("customer", "c2"), hit("contact", "p1")]);
    expect(groups.map((g) => g.type)).toEqual(["customer", "contact", "task", "zzz"]);
    expect(groups[0].hits.map((h) => h.id)).toEqual(["c1", "c2"]);
  });

  it("open the customer they belong to", () => {
    expect(hitLink(hit("customer", "c1"))).toBe("/customers/c1");
    expect(hitLink(hit("contact", "p1", { customer_id: "c7" }))).toBe("/customers/c7");
    expect(hitLink(hit("task", "t1", { customer: { id: "c8", title: "x" } }))).toBe("/customers/c8");
    expect(hitLink(hit("task", "t2"))).toBeNull();
  });

  it("mark matches as text, never as HTML", () => {
    expect(snippetParts("深圳市<em>腾讯</em>计算机<em>系统</em>")).toEqual([
      { text: "深圳市", match: false }, { text: "腾讯", match: true }, { text: "计算机", match: false }, { text: "系统", match: true },
    ]);
    expect(snippetParts("<img src=x onerror=alert(1)>")).toEqual([{ text: "<img src=x onerror=alert(1)>", match: false }]);
  });

  it("open with ⌘K or Ctrl+K only", () => {
    expect(isPaletteShortcut({ key: "k", metaKey: true, ctrlKey: false })).toBe(true);
    expect(isPaletteShortcut({ key: "K", metaKey: false, ctrlKey: true })).toBe(true);
    expect(isPaletteShortcut({ key: "k", metaKey: false, ctrlKey: false })).toBe(false);
  });
});
