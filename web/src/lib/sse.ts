// Server-Sent Events over fetch: the notifications stream wants the bearer token in the
// Authorization header, which the browser's EventSource cannot send. The parser is pure (unit tested);
// `openStream` reconnects with Last-Event-ID so nothing is missed across a drop.

export interface SseEvent {
  event: string;
  data: string;
  id: string | null;
}

/** Feeds text chunks in, gets whole events out (a chunk may end mid-line or mid-event). */
export class SseParser {
  private buffer = "";
  private event = "";
  private data: string[] = [];
  private id: string | null = null;
  lastId: string | null = null;
  retry: number | null = null;

  push(chunk: string): SseEvent[] {
    this.buffer += chunk;
    const out: SseEvent[] = [];
    let newline: number;
    while ((newline = this.buffer.search(/\r\n|\r|\n/)) !== -1) {
      const line = this.buffer.slice(0, newline);
      const width = this.buffer.startsWith("\r\n", newline) ? 2 : 1;
      this.buffer = this.buffer.slice(newline + width);
      if (line === "") {
        if (this.data.length) out.push({ event: this.event || "message", data: this.data.join("\n"), id: this.id });
        this.event = "";
        this.data = [];
        this.id = null;
        continue;
      }
      if (line.startsWith(":")) continue; // a comment: the heartbeat
      const colon = line.indexOf(":");
      const field = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") this.event = value;
      else if (field === "data") this.data.push(value);
      else if (field === "id") this.id = this.lastId = value;
      else if (field === "retry" && /^\d+$/.test(value)) this.retry = Number(value);
    }
    return out;
  }
}

export interface StreamOptions {
  onEvent: (event: SseEvent) => void;
  /** Called each time the stream is (re)connected: a moment to re-read what may have been missed. */
  onOpen?: () => void;
  fetchImpl: (path: string, init: RequestInit) => Promise<Response>;
}

/** Opens `path` and keeps it open (reconnecting after a drop) until the returned function is called. */
export function openStream(path: string, options: StreamOptions): () => void {
  const controller = new AbortController();
  let lastId: string | null = null;
  let delay = 2000;
  const run = async () => {
    while (!controller.signal.aborted) {
      try {
        const headers: Record<string, string> = { Accept: "text/event-stream" };
        if (lastId) headers["Last-Event-ID"] = lastId;
        const res = await options.fetchImpl(path, { headers, signal: controller.signal });
        if (res.ok && res.body) {
          options.onOpen?.();
          const parser = new SseParser();
          const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            for (const event of parser.push(value)) options.onEvent(event);
            lastId = parser.lastId ?? lastId;
            delay = parser.retry ?? delay;
          }
        } else if (res.status === 401 || res.status === 403) {
          return; // signed out: nothing to listen to
        }
      } catch {
        if (controller.signal.aborted) return;
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  };
  void run();
  return () => controller.abort();
}
