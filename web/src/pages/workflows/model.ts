// The workflow editor's logic, kept apart from React so it has unit tests: the fields a trigger
// or step may name, ISO 8601 durations as "N units", the CEL a "from → to" value condition
// stands for, and the API's field error paths.

export type Entity = "customer" | "contact" | "interaction" | "objection" | "task" | "opportunity";
export const ENTITIES: readonly Entity[] = ["customer", "contact", "interaction", "objection", "task", "opportunity"];

/** A trigger or step as the API takes it (a tagged union on `type`); the editor keeps them loose
 * and hands them to the typed client as they are. */
export type Node = { type: string; [key: string]: unknown };

// The records fields a workflow may name: records' public contract, as the workflows service
// checks it (services/workflows/domain/entities.py). Custom fields come from the API.
const COMMON = ["id", "version", "created_at", "updated_at", "created_by", "updated_by"];
const FIELDS: Record<Entity, string[]> = {
  customer: ["name", "kind", "aliases", "uscc", "phone", "phones", "email", "emails", "website", "industry", "address",
    "source", "owner_id", "department_id", "lifecycle_stage", "tier", "tags", "next_follow_up_at",
    "last_interaction_at", "health_score"],
  contact: ["customer_id", "name", "title", "role_in_deal", "phone", "phones", "email", "emails"],
  interaction: ["customer_id", "channel", "summary", "occurred_at", "direction", "sentiment", "next_step",
    "next_follow_up_at", "owner_id"],
  objection: ["customer_id", "category", "severity", "description", "interaction_id", "assignee_id", "due_at", "status",
    "resolution", "satisfaction", "owner_id", "resolved_at", "closed_at", "sla_state"],
  task: ["customer_id", "title", "description", "due_at", "remind_at", "assignee_id", "status", "completed_at"],
  opportunity: ["customer_id", "name", "pipeline_id", "stage", "amount", "currency", "expected_close_date", "owner_id",
    "probability", "won_reason", "lost_reason", "description", "status", "stage_name", "closed_at"],
};
const DATES: Record<Entity, string[]> = {
  customer: ["next_follow_up_at", "last_interaction_at", "created_at"],
  contact: ["created_at"],
  interaction: ["occurred_at", "next_follow_up_at"],
  objection: ["due_at", "created_at"],
  task: ["due_at", "remind_at"],
  opportunity: ["expected_close_date", "created_at"],
};
/** Values a field takes, offered while typing a "from"/"to" value (any other value may be typed). */
export const KNOWN_VALUES: Record<string, string[]> = {
  severity: ["low", "medium", "high", "critical"],
  "objection.status": ["open", "in_progress", "resolved", "closed", "reopened"],
  "task.status": ["open", "done", "cancelled"],
  "opportunity.status": ["open", "won", "lost"],
  lifecycle_stage: ["lead", "prospect", "customer", "loyal", "churned"],
  tier: ["A", "B", "C", "D"],
  category: ["price", "quality", "delivery", "service", "product", "other"],
};

export interface CustomField { key: string; label: string; type: string }

export interface FieldChoice { value: string; label: string }

/** The fields of `entity` a trigger or step may name, custom fields as `custom_fields.<key>`. */
export function fieldChoices(entity: Entity, custom: readonly CustomField[], datesOnly = false): FieldChoice[] {
  const own = datesOnly ? DATES[entity] : [...FIELDS[entity], ...COMMON.filter((f) => f !== "id")];
  const extra = custom.filter((f) => !datesOnly || f.type === "date" || f.type === "datetime");
  return [
    ...own.map((f) => ({ value: f, label: f })),
    ...extra.map((f) => ({ value: `custom_fields.${f.key}`, label: `${f.label} (custom_fields.${f.key})` })),
  ];
}

export function valuesOf(entity: Entity, field: string): string[] {
  return KNOWN_VALUES[`${entity}.${field}`] ?? KNOWN_VALUES[field] ?? [];
}

// --- durations ---------------------------------------------------------------------------------

export type Unit = "minutes" | "hours" | "days";
export interface Span { amount: number; unit: Unit; negative: boolean }

/** `{4, hours}` → `PT4H`; a negative span (before) → `-PT4H`. */
export function toDuration(span: Span): string {
  const n = Math.max(0, Math.round(span.amount));
  const body = span.unit === "days" ? `P${n}D` : span.unit === "hours" ? `PT${n}H` : `PT${n}M`;
  return (span.negative && n > 0 ? "-" : "") + body;
}

/** The inverse of `toDuration` for what it writes (and a single-unit ISO duration such as `P2W`,
 * `PT90M`); null for anything else, which the editor then shows as it is. */
export function fromDuration(text: string | null | undefined): Span | null {
  if (!text) return null;
  const m = /^(-)?P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/.exec(text.trim());
  if (!m) return null;
  const [, minus, w, d, h, mi, s] = m;
  const negative = minus === "-";
  const weeks = Number(w ?? 0), days = Number(d ?? 0), hours = Number(h ?? 0), minutes = Number(mi ?? 0);
  if (Number(s ?? 0) !== 0) return null;
  const totalMinutes = ((weeks * 7 + days) * 24 + hours) * 60 + minutes;
  if ((hours === 0 && minutes === 0)) return { amount: weeks * 7 + days, unit: "days", negative };
  if (minutes === 0) return { amount: totalMinutes / 60, unit: "hours", negative };
  return { amount: totalMinutes, unit: "minutes", negative };
}

// --- the "from → to" value condition ---------------------------------------------------------

export interface ValueChange { field: string; from: string; to: string }
export interface TriggerCondition { change: ValueChange | null; cel: string }

const FIELD = String.raw`([A-Za-z_][A-Za-z0-9_.]*)`;
const STRING = String.raw`("(?:[^"\\]|\\.)*")`;

/** The CEL a trigger's condition is saved as: the value change (`old.f == "a" && record.f == "b"`)
 * and the free CEL, each kept readable so the editor can split them again. */
export function conditionCel(condition: TriggerCondition): string | null {
  const parts: string[] = [];
  const change = condition.change;
  if (change && change.field && (change.from !== "" || change.to !== "")) {
    const bits: string[] = [];
    if (change.from !== "") bits.push(`old.${change.field} == ${JSON.stringify(change.from)}`);
    if (change.to !== "") bits.push(`record.${change.field} == ${JSON.stringify(change.to)}`);
    parts.push(bits.join(" && "));
  }
  const cel = condition.cel.trim();
  if (cel) parts.push(parts.length ? `(${cel})` : cel);
  return parts.length ? parts.join(" && ") : null;
}

/** Splits a saved condition into the value change the editor wrote and the rest (free CEL). */
export function splitCondition(text: string | null | undefined): TriggerCondition {
  const source = (text ?? "").trim();
  if (!source) return { change: null, cel: "" };
  const both = new RegExp(String.raw`^old\.${FIELD} == ${STRING} && record\.${FIELD} == ${STRING}(?: && \((.*)\))?$`, "s");
  const one = new RegExp(String.raw`^(old|record)\.${FIELD} == ${STRING}(?: && \((.*)\))?$`, "s");
  let m = both.exec(source);
  if (m && m[1] === m[3]) {
    return { change: { field: m[1], from: JSON.parse(m[2]) as string, to: JSON.parse(m[4]) as string }, cel: m[5] ?? "" };
  }
  m = one.exec(source);
  if (m) {
    const value = JSON.parse(m[3]) as string;
    const change = m[1] === "old" ? { field: m[2], from: value, to: "" } : { field: m[2], from: "", to: value };
    return { change, cel: m[4] ?? "" };
  }
  return { change: null, cel: source };
}

// --- the API's field errors -------------------------------------------------------------------

/** `body.triggers.0.condition` or `triggers[0].condition` → `triggers[0].condition`: one spelling
 * for the paths the form fields are keyed by. */
export function normalisePath(path: string): string {
  return path.replace(/^body\./, "").replace(/\.(\d+)(?=\.|$)/g, "[$1]").replace(/^\$\./, "");
}

/** The API's field errors keyed by their normalised path (the editor's fields are keyed the same way). */
export function groupErrors(problemErrors: readonly { field: string; message: string }[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const e of problemErrors) (out[normalisePath(e.field)] ??= []).push(e.message);
  return out;
}

// --- new triggers and steps ------------------------------------------------------------------------

export const TRIGGER_TYPES = ["record.created", "record.updated", "record.deleted", "record.restored", "record.merged",
  "record.transferred", "date", "schedule", "manual", "webhook"] as const;
export const STEP_TYPES = ["create_task", "update_record", "add_tags", "remove_tags", "assign_owner", "notify",
  "request_approval", "wait", "branch", "stop"] as const;

export function newTrigger(type: string, entity: Entity): Node {
  if (type.startsWith("record.")) return { type, entity, fields: [] };
  if (type === "date") return { type, entity, field: DATES[entity][0], offset: "PT0S" };
  if (type === "schedule") return { type, cron: "0 9 * * 1-5" };
  if (type === "manual") return { type, entity };
  return { type };
}

export function newStep(type: string): Node {
  switch (type) {
    case "create_task": return { type, title: "", due_in: "P1D", business_time: true };
    case "update_record": return { type, fields: {} };
    case "add_tags": case "remove_tags": return { type, tags: [] };
    case "assign_owner": return { type, user_id: null };
    case "notify": return { type, to: "record.owner_id", message: "", channels: ["in_app"] };
    case "request_approval": return { type, template_id: "" };
    case "wait": return { type, duration: "PT1H" };
    case "branch": return { type, condition: "", then: [], else: [] };
    default: return { type };
  }
}

/** The entity the steps act on: the first trigger's (the dry run picks a record of it). */
export function entityOf(triggers: readonly Node[]): Entity | null {
  for (const t of triggers) if (typeof t.entity === "string") return t.entity as Entity;
  return null;
}

/** A user id written as the CEL string literal a step's `assignee` / `to` takes. */
export function userLiteral(id: string): string {
  return JSON.stringify(id);
}

export function literalUser(cel: string | null | undefined): string | null {
  const m = /^"([0-9a-f-]{36})"$/.exec((cel ?? "").trim());
  return m ? m[1] : null;
}
