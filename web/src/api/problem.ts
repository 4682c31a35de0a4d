// RFC 9457 problem+json answers, as the API sends them (shared/errors.py).

export interface FieldProblem {
  field: string;
  message: string;
  code?: string;
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  errors?: FieldProblem[];
}

export function isProblem(value: unknown): value is Problem {
  return typeof value === "object" && value !== null && "type" in value && "status" in value && "title" in value;
}

/** The problem's kind: its `type` without the URN/URL prefix (e.g. "tenant-suspended"). */
export function problemKind(problem: Problem): string {
  const parts = problem.type.split(/[/:]/);
  return parts[parts.length - 1] ?? "";
}

/**
 * Field errors keyed by the form field they belong to: `phones.0.value` belongs to `phones`,
 * `custom_fields.budget` to `custom_fields.budget` when the form has it. Messages for the same
 * field are joined; errors on no known field are returned under "" (shown above the form).
 */
export function fieldErrors(problem: Problem, formFields: readonly string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const err of problem.errors ?? []) {
    const field = owningField(err.field, formFields);
    (out[field] ??= []).push(err.message);
  }
  return out;
}

export function owningField(path: string, formFields: readonly string[]): string {
  const clean = path.replace(/^body\./, "");
  let best = "";
  for (const f of formFields) {
    if ((clean === f || clean.startsWith(f + ".") || clean.startsWith(f + "[")) && f.length > best.length) best = f;
  }
  return best;
}
