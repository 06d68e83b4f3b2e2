// The metrics view's remembered settings (localStorage), validated on load.
import type { Axis } from "../chart/model";

export interface MetricsPrefs {
  axis: Axis;
  log: boolean;
  smooth: number;
  /** The filter box is a regular expression (else fuzzy; `/…/` is a regex either way). */
  regex: boolean;
  /** Prefixes of collapsed sections. */
  collapsed: string[];
}

export const DEFAULT_PREFS: MetricsPrefs = { axis: "step", log: false, smooth: 0, regex: false, collapsed: [] };
const STORAGE_KEY = "td:metrics";

export function parsePrefs(raw: string | null | undefined): MetricsPrefs {
  if (!raw) return DEFAULT_PREFS;
  try {
    const p = JSON.parse(raw) as Partial<MetricsPrefs>;
    return {
      axis: p.axis === "time" ? "time" : "step",
      log: p.log === true,
      smooth: typeof p.smooth === "number" && p.smooth >= 0 && p.smooth <= 0.99 ? p.smooth : 0,
      regex: p.regex === true,
      collapsed: Array.isArray(p.collapsed) ? p.collapsed.filter((c): c is string => typeof c === "string") : [],
    };
  } catch {
    return DEFAULT_PREFS;
  }
}

export function loadPrefs(): MetricsPrefs {
  try {
    return parsePrefs(globalThis.localStorage?.getItem(STORAGE_KEY));
  } catch {
    return DEFAULT_PREFS;
  }
}

export function savePrefs(p: MetricsPrefs): void {
  try {
    globalThis.localStorage?.setItem(STORAGE_KEY, JSON.stringify(p));
  } catch {
    /* private mode: not remembered */
  }
}

/** Collapse or expand one section. */
export function toggleCollapsed(collapsed: string[], prefix: string): string[] {
  return collapsed.includes(prefix) ? collapsed.filter((c) => c !== prefix) : [...collapsed, prefix];
}
