import { describe, expect, it } from "vitest";

import {
  bulkResult, columnsOfFields, DEFAULT_COLUMNS, formatMoney, loadViews, slaBadge, storeViews, taskQuery, totalByCurrency,
  viewBody, viewQuery,
} from "./work";

class MemoryStorage {
  private data = new Map<string, string>();
  getItem(key: string) { return this.data.get(key) ?? null; }
  setItem(key: string, value: string) { this.data.set(key, value); }
}

describe("sales day logic", () => {
  it("maps the API's sla_state to a badge, and none without a state", () => {
    expect(slaBadge("breached")).toEqual({ key: "objections.sla.breached", color: "red" });
    expect(slaBadge("at_risk")?.key).toBe("objections.sla.at_risk");
    expect(slaBadge(null)).toBeNull();
  });

  it("formats money per locale in CNY by default", () => {
    expect(formatMoney("120000.5", null, "zh-CN")).toBe("¥120,000.50");
    expect(formatMoney("120000.5", "CNY", "en")).toBe("CN¥120,000.50");
    expect(formatMoney(null, "CNY", "en")).toBe("—");
    expect(totalByCurrency([{ amount: "1.50", currency: "CNY" }, { amount: "2", currency: null }, { amount: null }]))
      .toEqual({ CNY: 3.5 });
  });

  it("asks for today's open tasks from local midnight to the end of the day", () => {
    const q = taskQuery("today", "u1", new Date(2026, 11, 3, 15, 30));
    expect(new Date(q.due_from as string).getHours()).toBe(0);
    expect(new Date(q.due_to as string).getHours()).toBe(23);
    expect(taskQuery("mine", "u1", new Date())).toMatchObject({ assignee_id: "u1", status: "open" });
    expect(taskQuery("overdue", "u1", new Date())).toMatchObject({ overdue: true });
  });

  it("keeps columns per key and reads the views this browser kept before they moved to the server", () => {
    const storage = new MemoryStorage() as unknown as Storage;
    expect(loadViews(storage, "k").columns).toEqual(DEFAULT_COLUMNS);
    storeViews(storage, "k", { columns: ["phone", "nonsense" as "phone"], views: [{ name: "B", query: "tier=C", columns: ["tags"] }] });
    const back = loadViews(storage, "k");
    expect(back.columns).toEqual(["phone"]);
    expect(back.views).toEqual([{ name: "B", query: "tier=C", columns: ["tags"] }]);
    storage.setItem("k", "{not json");
    expect(loadViews(storage, "k").views).toEqual([]);
  });

  it("turns a list's search string into a server view and back, without the page's cursor", () => {
    const body = viewBody(" A 级 ", "tier=A&tag=vip&sort=-name&cursor=abc", ["owner", "phone"]);
    expect(body).toEqual({ name: "A 级", entity: "customer", columns: ["owner_id", "phone"],
      filters: { tier: "A", tag: "vip" }, sort: "-name" });
    expect(viewQuery(body).toString()).toBe("tier=A&tag=vip&sort=-name");
    expect(viewQuery({ filters: {}, sort: null }).toString()).toBe("");
    expect(columnsOfFields(["owner_id", "tags", "custom_fields.region"])).toEqual(["owner", "tags"]);
  });

  it("shows a bulk answer's failed rows by name, every row done", () => {
    const result = bulkResult([{ id: "1", label: "甲" }, { id: "2", label: "乙" }],
      { done: ["1"], failed: [{ id: "2", title: "冲突", message: "already in the pool" }] });
    expect(result).toEqual({ done: 2, total: 2, errors: [{ id: "2", label: "乙", message: "already in the pool" }] });
  });
});
