import { describe, expect, it } from "vitest";

import { SseParser } from "./sse";

describe("SseParser", () => {
  it("gives whole events across chunk boundaries and skips comments", () => {
    const p = new SseParser();
    expect(p.push(": connected\nretry: 2000\n\nevent: notif")).toEqual([]);
    expect(p.retry).toBe(2000);
    expect(p.push('ication\ndata: {"a":1}\nid: 7\n\n: heartbeat\n\n')).toEqual([
      { event: "notification", data: '{"a":1}', id: "7" },
    ]);
    expect(p.lastId).toBe("7");
  });

  it("joins multi-line data and accepts CRLF", () => {
    const p = new SseParser();
    expect(p.push("data: one\r\ndata:two\r\n\r\n")).toEqual([{ event: "message", data: "one\ntwo", id: null }]);
  });
});
