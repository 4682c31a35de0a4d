import { describe, expect, it } from "vitest";

import { formatSpans, parseSpans } from "./calendar";

describe("working hours as text", () => {
  it("reads spans separated by Chinese or ASCII commas, padding the hour", () => {
    expect(parseSpans("9:00-12:00， 13:30 - 18:00")).toEqual([["09:00", "12:00"], ["13:30", "18:00"]]);
    expect(parseSpans("08:00至17:00")).toEqual([["08:00", "17:00"]]);
  });
  it("an empty line is a closed day; anything else that is not a span is refused", () => {
    expect(parseSpans("  ")).toEqual([]);
    expect(parseSpans("9-12")).toBeNull();
    expect(parseSpans("09:00-12:00, lunch")).toBeNull();
  });
  it("writes back what it reads", () => {
    const spans = [["09:00", "12:00"], ["13:30", "18:00"]];
    expect(parseSpans(formatSpans(spans))).toEqual(spans);
    expect(formatSpans([])).toBe("");
  });
});
