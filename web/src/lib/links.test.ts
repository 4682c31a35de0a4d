import { describe, expect, it } from "vitest";

import { recordLink } from "./links";

describe("recordLink", () => {
  it("opens the record's page, or nothing for a type without one", () => {
    expect(recordLink({ type: "customer", id: "c1" })).toBe("/customers/c1");
    expect(recordLink({ type: "approval", id: "a1" })).toBe("/approvals");
    expect(recordLink({ type: "import", id: "i1" })).toBe("/imports?job=i1");
    expect(recordLink({ type: "session", id: "s" })).toBeNull();
    expect(recordLink(null)).toBeNull();
  });
});
