// A weekday's working hours as one line of text ("09:00-12:00, 13:30-18:00"), to and from the
// spans the business calendar API takes ([["09:00", "12:00"], ["13:30", "18:00"]]).

export const WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] as const;
export type Weekday = (typeof WEEKDAYS)[number];

const SPAN = /^(\d{1,2}):(\d{2})\s*[-–~～至]\s*(\d{1,2}):(\d{2})$/;

export function formatSpans(spans: readonly (readonly string[])[]): string {
  return spans.map(([start, end]) => `${start}-${end}`).join(", ");
}

/** The spans of a line, times written HH:MM (a single-digit hour gets its zero); empty text is a
 * closed day; null when a part is not a span (the API checks order and overlap itself). */
export function parseSpans(text: string): string[][] | null {
  const parts = text.split(/[,，;；]/).map((p) => p.trim()).filter(Boolean);
  const spans: string[][] = [];
  for (const part of parts) {
    const m = SPAN.exec(part);
    if (!m) return null;
    spans.push([`${m[1]!.padStart(2, "0")}:${m[2]}`, `${m[3]!.padStart(2, "0")}:${m[4]}`]);
  }
  return spans;
}
