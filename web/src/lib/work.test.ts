import { describe, expect, it } from "vitest";

import {
  DEFAULT_COLUMNS, formatMoney, loadViews, runBulk, slaBadge, storeViews, taskQuery, toCsv, totalByCurrency, withView,
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

  it("keeps columns and saved views per key, replacing a view of the same name", () => {
    const storage = new MemoryStorage() as unknown as Storage;
    expect(loadViews(storage, "k").columns).toEqual(DEFAULT_COLUMNS);
    const views = withView(withView([], { name: "B", query: "tier=A", columns: ["phone"] }),
      { name: "B", query: "tier=C", columns: ["tags"] });
    storeViews(storage, "k", { columns: ["phone", "nonsense" as "phone"], views });
    const back = loadViews(storage, "k");
    expect(back.columns).toEqual(["phone"]);
    expect(back.views).toEqual([{ name: "B", query: "tier=C", columns: ["tags"] }]);
    storage.setItem("k", "{not json");
    expect(loadViews(storage, "k").views).toEqual([]);
  });

  it("runs a bulk action on every row, keeping each row's error and reporting progress", async () => {
    const seen: number[] = [];
    const result = await runBulk([{ id: "1", label: "甲" }, { id: "2", label: "乙" }, { id: "3", label: "丙" }],
      async (row) => { if (row.id === "2") throw new Error("冲突"); return row.id === "3" ? "拒绝" : null; },
      (p) => seen.push(p.done));
    expect(result.done).toBe(3);
    expect(result.errors.map((e) => [e.label, e.message])).toEqual([["乙", "冲突"], ["丙", "拒绝"]]);
    expect(seen.sort()).toEqual([1, 2, 3]);
  });

  it("writes CSV that spreadsheets open as text", () => {
    expect(toCsv(["名称"], [["a,b"], ["=1+1"], [null]])).toBe('\uFEFF名称\r\n"a,b"\r\n\'=1+1\r\n\r\n');
  });
});
