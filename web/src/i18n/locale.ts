// The console's language: zh-CN unless the person chose English. Before login the choice of this
// browser (localStorage) decides; once signed in, the user's own `locale` (kept by the API, so it
// follows them to any device) wins.
import { en, zh, type MessageKey } from "./messages";

export type Locale = "zh-CN" | "en";
export const DEFAULT_LOCALE: Locale = "zh-CN";
const STORAGE_KEY = "huike.locale";

export function normaliseLocale(value: string | null | undefined): Locale {
  if (!value) return DEFAULT_LOCALE;
  return value.toLowerCase().startsWith("en") ? "en" : "zh-CN";
}

export function storedLocale(storage: Storage): Locale {
  return normaliseLocale(storage.getItem(STORAGE_KEY));
}

export function rememberLocale(storage: Storage, locale: Locale): void {
  storage.setItem(STORAGE_KEY, locale);
}

/** The Accept-Language header the API answers problem+json by. */
export function acceptLanguage(locale: Locale): string {
  return locale === "en" ? "en, zh-CN;q=0.5" : "zh-CN, zh;q=0.9, en;q=0.5";
}

export function translate(locale: Locale, key: MessageKey): string {
  return (locale === "en" ? en : zh)[key];
}
