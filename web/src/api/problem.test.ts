import { describe, expect, it } from "vitest";

import { fieldErrors, isProblem, owningField, problemKind, type Problem } from "./problem";

const problem: Problem = {
  type: "urn:huike:problem:validation-error", title: "输入无效", status: 422, detail: "请求中有 3 处输入错误",
  errors: [
    { field: "email", message: "不是有效的邮箱地址", code: "invalid" },
    { field: "phones.0.value", message: "不是有效的电话号码", code: "invalid" },
    { field: "custom_fields.budget", message: "必须是数字", code: "type" },
    { field: "owner_id", message: "用户不存在", code: "not_found" },
  ],
};

describe("problem+json", () => {
  it("recognises problems and their kind", () => {
    expect(isProblem(problem)).toBe(true);
    expect(isProblem({ message: "x" })).toBe(false);
    expect(problemKind(problem)).toBe("validation-error");
    expect(problemKind({ ...problem, type: "https://huike.dev/problems/tenant-suspended" })).toBe("tenant-suspended");
  });

  it("puts each error on the form field that owns it, the rest above the form", () => {
    const byField = fieldErrors(problem, ["email", "phones", "custom_fields", "custom_fields.budget", "name"]);
    expect(byField).toEqual({
      email: ["不是有效的邮箱地址"],
      phones: ["不是有效的电话号码"],
      "custom_fields.budget": ["必须是数字"],
      "": ["用户不存在"],
    });
  });

  it("does not confuse a field with another that starts the same", () => {
    expect(owningField("phone_ext", ["phone"])).toBe("");
    expect(owningField("body.phone", ["phone"])).toBe("phone");
    expect(owningField("tags[2]", ["tags"])).toBe("tags");
  });
});
