import type { FormInstance } from "antd";

import { fieldErrors, isProblem, type Problem } from "../api/problem";

/**
 * Puts the API's field errors (problem+json `errors`) on the form's fields; returns the text to
 * show above the form (the problem's detail, or its title), or null when every error found a field.
 */
export function showProblem(form: FormInstance, error: unknown, fields: readonly string[]): string | null {
  if (!isProblem(error)) return null;
  const byField = fieldErrors(error as Problem, fields);
  form.setFields(
    Object.entries(byField).filter(([name]) => name).map(([name, errors]) => ({ name: name.split("."), errors })),
  );
  const unplaced = byField[""];
  if (!error.errors?.length || unplaced) return unplaced?.join("; ") || error.detail || error.title;
  return null;
}

export function problemText(error: unknown): string | null {
  return isProblem(error) ? error.detail || error.title : null;
}
