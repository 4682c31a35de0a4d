import { describe, expect, it } from "vitest";

import { workflowsEn, workflowsZh, wfText } from "../../i18n/messages/workflows";
import { conditionCel, fieldChoices, fromDuration, groupErrors, literalUser, normalisePath, splitCondition,
  toDuration, userLiteral } from "./model";

describe("durations", () => {
  it("writes N units as ISO 8601, before as negative", () => {
    expect(toDuration({ amount: 4, unit: "hours", negative: false })).toBe("PT4H");
    expect(toDuration({ amount: 3, unit: "days", negative: false })).toBe("P3D");
    expect(toDuration({ amount: 30, unit: "minutes", negative: true })).toBe("-PT30M");
    expect(toDuration({ amount: 0, unit: "hours", negative: true })).toBe("PT0H");
  });
  it("reads back what it wrote and single-unit durations", () => {
    for (const text of ["PT4H", "P3D", "-PT30M", "-P2D"]) {
      const span = fromDuration(text);
      expect(span).not.toBeNull();
      expect(toDuration(span!)).toBe(text);
    }
    expect(fromDuration("P2W")).toEqual({ amount: 14, unit: "days", negative: false });
    expect(fromDuration("PT1H30M")).toEqual({ amount: 90, unit: "minutes", negative: false });
    expect(fromDuration("PT0S")).toEqual({ amount: 0, unit: "days", negative: false });
    expect(fromDuration("P1M")).toBeNull();
    expect(fromDuration("PT10S")).toBeNull();
  });
});

describe("a trigger's value condition", () => {
  it("becomes CEL on old and record, with the free CEL after it", () => {
    expect(conditionCel({ change: { field: "severity", from: "", to: "high" }, cel: "" })).toBe('record.severity == "high"');
    expect(conditionCel({ change: { field: "stage", from: "报价", to: "赢单" }, cel: "record.amount > 100" }))
      .toBe('old.stage == "报价" && record.stage == "赢单" && (record.amount > 100)');
    expect(conditionCel({ change: { field: "severity", from: "", to: "" }, cel: "  " })).toBeNull();
    expect(conditionCel({ change: null, cel: "record.tier == \"A\"" })).toBe('record.tier == "A"');
  });
  it("splits back into the change and the rest", () => {
    const cases = [
      { change: { field: "severity", from: "", to: "high" }, cel: "" },
      { change: { field: "stage", from: "报价", to: "赢单" }, cel: "record.amount > 100" },
      { change: { field: "status", from: "open", to: "" }, cel: 'record.x == "a" && old.y' },
      { change: { field: "custom_fields.level", from: 'say "hi"', to: "x" }, cel: "" },
    ];
    for (const c of cases) expect(splitCondition(conditionCel(c))).toEqual(c);
  });
  it("leaves a condition it did not write as free CEL", () => {
    expect(splitCondition('old.a == "1" && record.b == "2"')).toEqual({ change: null, cel: 'old.a == "1" && record.b == "2"' });
    expect(splitCondition("record.amount > 10")).toEqual({ change: null, cel: "record.amount > 10" });
    expect(splitCondition(null)).toEqual({ change: null, cel: "" });
  });
});

describe("the API's field errors", () => {
  it("are keyed by one spelling of the path", () => {
    expect(normalisePath("body.triggers.0.condition")).toBe("triggers[0].condition");
    expect(normalisePath("steps[0].then[1].due_in")).toBe("steps[0].then[1].due_in");
    expect(groupErrors([{ field: "triggers[0].condition", message: "a" }, { field: "triggers.0.condition", message: "b" }]))
      .toEqual({ "triggers[0].condition": ["a", "b"] });
  });
});

describe("pickers", () => {
  it("offer the entity's fields and its custom fields, dates only for a date trigger", () => {
    const custom = [{ key: "contract_end", label: "合同到期日", type: "date" }, { key: "level", label: "级别", type: "text" }];
    const all = fieldChoices("objection", custom).map((c) => c.value);
    expect(all).toContain("severity");
    expect(all).toContain("custom_fields.level");
    const dates = fieldChoices("customer", custom, true).map((c) => c.value);
    expect(dates).toEqual(["next_follow_up_at", "last_interaction_at", "created_at", "custom_fields.contract_end"]);
  });
  it("write a named user as a CEL string and read it back", () => {
    const id = "0b0c4a5e-9a3e-4a57-8d0e-1f2a3b4c5d6e";
    expect(literalUser(userLiteral(id))).toBe(id);
    expect(literalUser("record.owner_id")).toBeNull();
  });
});

describe("labels", () => {
  it("exist in both languages and fill placeholders", () => {
    expect(Object.keys(workflowsEn).sort()).toEqual(Object.keys(workflowsZh).sort());
    expect(wfText("zh-CN", "wf.saved", { n: 3 })).toBe("已保存，版本 v3");
    expect(wfText("en", "wf.saved", { n: 3 })).toBe("Saved as version v3");
  });
});
