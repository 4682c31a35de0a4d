import { useEffect, useState } from "react";

import { userNames } from "../api/work";

/** Names of the tenant's users by id (empty until loaded, or when the caller may not list users). */
export function useUserNames(): Map<string, string> {
  const [names, setNames] = useState<Map<string, string>>(new Map());
  useEffect(() => {
    let live = true;
    void userNames().then((found) => { if (live) setNames(found); });
    return () => { live = false; };
  }, []);
  return names;
}

/** A person's name, "me" shown by name too; an unknown id by its first characters. */
export function personName(id: string | null | undefined, names: Map<string, string>): string | null {
  if (!id) return null;
  return names.get(id) ?? id.slice(0, 8);
}
