import { createContext, useContext } from "react";

import type { Schemas } from "./api/client";
import type { Locale } from "./i18n/locale";
import type { MessageKey } from "./i18n/messages";

export type Me = Schemas["MeOut"];

export interface AppState {
  locale: Locale;
  setLocale: (locale: Locale) => void;
  t: (key: MessageKey) => string;
  me: Me | null;
  setMe: (me: Me | null) => void;
  signedIn: (accessToken: string, expiresIn: number) => Promise<void>;
  logout: () => Promise<void>;
}

export const AppContext = createContext<AppState | null>(null);

export function useApp(): AppState {
  const state = useContext(AppContext);
  if (!state) throw new Error("useApp outside <AppContext.Provider>");
  return state;
}
