// The typed API client, generated from Huike's own OpenAPI document (src/api/schema.d.ts, by
// `npm run gen:api`): every path, parameter and body is checked by the compiler.
import createClient from "openapi-fetch";

import { acceptLanguage, type Locale } from "../i18n/locale";
import type { components, paths } from "./schema";
import { refreshAccess, validAccessToken } from "./session";

export type Schemas = components["schemas"];

let locale: Locale = "zh-CN";
export function setClientLocale(value: Locale): void {
  locale = value;
}

// Paths that authenticate themselves (credentials in the body or the cookie).
const SELF_AUTHENTICATED = /^\/api\/v1\/(signup|auth\/(login|session|password-reset)|invitations\/accept)/;

/** Every request: the user's language, and the access token (refreshed first when about to expire);
 * a 401 on an authenticated call gets one refresh and one retry (the token may have just been revoked
 * and re-issued, or the tab slept past its expiry). */
export async function apiFetch(input: Request): Promise<Response> {
  const path = new URL(input.url, window.location.origin).pathname;
  input.headers.set("Accept-Language", acceptLanguage(locale));
  if (SELF_AUTHENTICATED.test(path)) return fetch(input);
  const retry = input.clone();
  const token = await validAccessToken();
  if (token) input.headers.set("Authorization", `Bearer ${token}`);
  const res = await fetch(input);
  if (res.status !== 401 || !token) return res;
  const fresh = await refreshAccess();
  if (!fresh) return res;
  retry.headers.set("Authorization", `Bearer ${fresh.token}`);
  return fetch(retry);
}

export const api = createClient<paths>({ baseUrl: "", fetch: apiFetch });
