import { describe, expect, it } from "vitest";

import { type ImportJob, mappingBody, progress } from "./imports";

describe("import helpers", () => {
  it("sends every column, the ones left unmapped as null", () => {
    expect(mappingBody(["公司", "电话", "备注"], { 公司: "name", 电话: "phone", 备注: undefined }))
      .toEqual({ 公司: "name", 电话: "phone", 备注: null });
  });

  it("shows progress from rows done over rows counted, 100 only when finished", () => {
    const job = { status: "running", rows_total: 200, rows_done: 50 } as ImportJob;
    expect(progress(job)).toBe(25);
    expect(progress({ ...job, rows_done: 200 })).toBe(99);
    expect(progress({ ...job, rows_total: null })).toBe(0);
    expect(progress({ ...job, status: "succeeded" })).toBe(100);
  });
});
