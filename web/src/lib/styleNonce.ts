// Some Ant Design internals (rc-util's scrollbar measurement and scroll locker) insert <style>
// elements without the CSP nonce that ConfigProvider gives Ant Design's own styles. Only scripts
// insert elements through these DOM methods, and under `script-src 'self'` every script is ours,
// so nonce-ing script-inserted <style> elements keeps the policy's protection: HTML injected into
// the page (parsed, not inserted through these methods) still cannot add a style sheet.
export function nonceInsertedStyles(nonce: string): void {
  if (!nonce || typeof Node === "undefined") return;
  const mark = (node: Node) => {
    if (node instanceof HTMLStyleElement && !node.nonce) node.nonce = nonce;
  };
  const append = Node.prototype.appendChild;
  const insertBefore = Node.prototype.insertBefore;
  Node.prototype.appendChild = function <T extends Node>(this: Node, node: T): T {
    mark(node);
    return append.call(this, node) as T;
  };
  Node.prototype.insertBefore = function <T extends Node>(this: Node, node: T, child: Node | null): T {
    mark(node);
    return insertBefore.call(this, node, child) as T;
  };
}
