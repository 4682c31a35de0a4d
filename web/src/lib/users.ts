import { useEffect, useState } from "react";

import { api, type Schemas } from "../api/client";

export type User = Schemas["UserOut"];

/** The workspace's active users (one page of 200: a picker, not a directory); [] when the caller
 * may not read users (the API answers 403 and the pickers fall back to what they already show). */
export function useUsers(): User[] {
  const [users, setUsers] = useState<User[]>([]);
  useEffect(() => {
    void api.GET("/api/v1/users", { params: { query: { status: "active", limit: 200 } } })
      .then(({ data }) => setUsers(data?.items ?? []));
  }, []);
  return users;
}

export function nameOf(users: readonly User[], id: string | null | undefined): string {
  if (!id) return "—";
  return users.find((u) => u.id === id)?.name ?? id.slice(0, 8);
}
