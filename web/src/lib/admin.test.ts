import { describe, expect, it } from "vitest";

import { buildTree } from "./admin";

describe("buildTree", () => {
  it("nests departments under their parents; an orphan becomes a root", () => {
    const tree = buildTree([
      { id: "r", parent_id: null, name: "总部" },
      { id: "s", parent_id: "r", name: "销售部" },
      { id: "e", parent_id: "s", name: "华东组" },
      { id: "o", parent_id: "gone", name: "孤儿" },
    ], (d) => d.name);
    expect(tree.map((n) => n.title)).toEqual(["总部", "孤儿"]);
    expect(tree[0]!.children[0]!.title).toBe("销售部");
    expect(tree[0]!.children[0]!.children[0]!.title).toBe("华东组");
  });
});
