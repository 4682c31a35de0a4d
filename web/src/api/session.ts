// The browser's session. The access token lives in this module's memory only; the refresh token
// is an HttpOnly cookie the page never sees. Refreshing needs the CSRF token, which the server
// put in a readable cookie (signed double-submit): we echo it in the X-CSRF-Token header.

export interface AccessToken {
  token: string;
  expiresAt: number; // ms since epoch
}

let access: AccessToken | null = null;
let refreshing: Promise<AccessToken | null> | null = null;
const listeners = new Set<(signedIn: boolean) => void>();

export const SESSION_HEADER = { "Huike-Session": "cookie" } as const;
// Refresh this long before the access token expires, so a request never leaves with a dead one.
export const REFRESH_MARGIN_MS = 30_000;

export function readCookie(cookies: string, name: string): string | null {
  for (const part of cookies.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return null;
}

export function csrfToken(): string | null {
  return typeof document === "undefined" ? null : readCookie(document.cookie, "huike_csrf");
}

export function hasSessionCookie(): boolean {
  return !!csrfToken();
}

export function setAccess(token: string, expiresIn: number, now: number = Date.now()): void {
  access = { token, expiresAt: now + expiresIn * 1000 };
  listeners.forEach((l) => l(true));
}

export function clearAccess(): void {
  access = null;
  listeners.forEach((l) => l(false));
}

export function currentAccess(): AccessToken | null {
  return access;
}

export function needsRefresh(token: AccessToken | null, now: number = Date.now()): boolean {
  return token === null || token.expiresAt - now < REFRESH_MARGIN_MS;
}

export function onSessionChange(listener: (signedIn: boolean) => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** One refresh at a time: concurrent callers share the same answer (a refresh token works once). */
export function refreshAccess(fetchImpl: typeof fetch = fetch): Promise<AccessToken | null> {
  if (refreshing) return refreshing;
  const csrf = csrfToken();
  if (!csrf) return Promise.resolve(null);
  refreshing = (async () => {
    try {
      const res = await fetchImpl("/api/v1/auth/session/refresh", {
        method: "POST",
        headers: { "X-CSRF-Token": csrf },
        credentials: "same-origin",
      });
      if (!res.ok) {
        clearAccess();
        return null;
      }
      const body = (await res.json()) as { access_token: string; expires_in: number };
      setAccess(body.access_token, body.expires_in);
      return access;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

export async function validAccessToken(): Promise<string | null> {
  if (!needsRefresh(access)) return access!.token;
  const fresh = await refreshAccess();
  return fresh?.token ?? null;
}

export async function endSession(): Promise<void> {
  const csrf = csrfToken();
  try {
    if (csrf) {
      await fetch("/api/v1/auth/session/logout", {
        method: "POST",
        headers: { "X-CSRF-Token": csrf },
        credentials: "same-origin",
      });
    }
  } finally {
    clearAccess();
  }
}
