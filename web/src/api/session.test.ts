import { afterEach, describe, expect, it, vi } from "vitest";

import { clearAccess, currentAccess, needsRefresh, readCookie, refreshAccess, setAccess } from "./session";

describe("session", () => {
  afterEach(() => {
    clearAccess();
    document.cookie = "huike_csrf=; max-age=0; path=/";
  });

  it("reads the CSRF cookie among others", () => {
    expect(readCookie("a=1; huike_csrf=abc%3D; b=2", "huike_csrf")).toBe("abc=");
    expect(readCookie("a=1", "huike_csrf")).toBeNull();
  });

  it("refreshes shortly before the access token expires", () => {
    setAccess("tok", 900, 0);
    expect(needsRefresh(currentAccess(), 0)).toBe(false);
    expect(needsRefresh(currentAccess(), 880_000)).toBe(true);
    expect(needsRefresh(null, 0)).toBe(true);
  });

  it("shares one refresh between concurrent callers and sends the CSRF header", async () => {
    document.cookie = "huike_csrf=csrf-value; path=/";
    const fetchImpl = vi.fn(async () => new Response(JSON.stringify({ access_token: "new", expires_in: 900 }), { status: 200 }));
    const [a, b] = await Promise.all([refreshAccess(fetchImpl as unknown as typeof fetch), refreshAccess(fetchImpl as unknown as typeof fetch)]);
    expect(fetchImpl).toHaveBeenCalledTimes(1);
    const [url, init] = fetchImpl.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe("/api/v1/auth/session/refresh");
    expect((init.headers as Record<string, string>)["X-CSRF-Token"]).toBe("csrf-value");
    expect(a?.token).toBe("new");
    expect(b).toBe(a);
  });

  it("signs out when the refresh is refused, and does not try without a CSRF cookie", async () => {
    setAccess("old", 900);
    const refused = vi.fn(async () => new Response("{}", { status: 401 }));
    expect(await refreshAccess(refused as unknown as typeof fetch)).toBeNull();  // no cookie: not even asked
    expect(refused).not.toHaveBeenCalled();
    document.cookie = "huike_csrf=x; path=/";
    expect(await refreshAccess(refused as unknown as typeof fetch)).toBeNull();
    expect(currentAccess()).toBeNull();
  });
});
