import { describe, expect, it } from "vitest";

import { columnOrder, parseListQuery, sortParam, toSearchParams } from "./listQuery";

describe("customer list query", () => {
  it("round-trips through the URL and drops defaults", () => {
    const q = parseListQuery(new URLSearchParams("lifecycle_stage=lead&sort=-name&overdue_follow_up=true&cursor=abc"));
    expect(q).toEqual({ lifecycle_stage: "lead", tier: undefined, tag: undefined, overdue_follow_up: true, sort: "-name", cursor: "abc" });
    expect(toSearchParams(q).toString()).toBe("lifecycle_stage=lead&overdue_follow_up=true&sort=-name&cursor=abc");
    expect(toSearchParams(parseListQuery(new URLSearchParams(""))).toString()).toBe("");
  });

  it("refuses sorts the API does not offer", () => {
    expect(parseListQuery(new URLSearchParams("sort=-password")).sort).toBe("-created_at");
  });

  it("maps table sort orders to the API's sort parameter and back", () => {
    expect(sortParam("name", "ascend")).toBe("name");
    expect(sortParam("next_follow_up_at", "descend")).toBe("-next_follow_up_at");
    expect(sortParam(undefined, null)).toBe("-created_at");
    expect(columnOrder("-name", "name")).toBe("descend");
    expect(columnOrder("name", "created_at")).toBeNull();
  });
});
