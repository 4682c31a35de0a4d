import type { ReactNode } from "react";

export interface TreeNode {
  key: string;
  title: ReactNode;
  children: TreeNode[];
}

/** Departments (each with its parent_id) as a tree for antd's <Tree>; a department whose parent is
 * not in the list (hidden or deleted) becomes a root rather than disappearing. */
export function buildTree<T extends { id: string; parent_id: string | null; name: string }>(
  items: readonly T[], title: (item: T) => ReactNode,
): TreeNode[] {
  const nodes = new Map(items.map((d) => [d.id, { key: d.id, title: title(d), children: [] as TreeNode[] }]));
  const roots: TreeNode[] = [];
  for (const d of items) {
    const node = nodes.get(d.id)!;
    const parent = d.parent_id ? nodes.get(d.parent_id) : undefined;
    (parent ? parent.children : roots).push(node);
  }
  return roots;
}
