import { describe, expect, it } from "vitest";

import { acceptLanguage, normaliseLocale, translate } from "./locale";
import { en, zh } from "./messages";

describe("locale", () => {
  it("is Chinese unless English was chosen", () => {
    expect(normaliseLocale(null)).toBe("zh-CN");
    expect(normaliseLocale("zh-CN")).toBe("zh-CN");
    expect(normaliseLocale("en-US")).toBe("en");
    expect(normaliseLocale("fr")).toBe("zh-CN");
  });

  it("asks the API for problems in the same language", () => {
    expect(acceptLanguage("zh-CN").startsWith("zh-CN")).toBe(true);
    expect(acceptLanguage("en").startsWith("en")).toBe(true);
  });

  it("has every label in both languages", () => {
    expect(Object.keys(en).sort()).toEqual(Object.keys(zh).sort());
    for (const [key, text] of Object.entries(en)) expect(text, key).not.toBe("");
    expect(translate("zh-CN", "auth.login")).toBe("登录");
    expect(translate("en", "auth.login")).toBe("Log in");
  });
});
