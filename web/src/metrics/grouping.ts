// The metrics grid's keys: grouped by prefix (`train/`, `val/`, `sys/`…) and narrowed by a
// filter over key names, fuzzy or regex. Pure, tested.
import { fuzzyMatch } from "../keyboard/fuzzy";

export type KeyFilter =
  | { kind: "all" }
  | { kind: "fuzzy"; query: string }
  | { kind: "regex"; re: RegExp }
  | { kind: "error"; message: string };

/**
 * The filter a text box means: empty → everything; `/pattern/` (or any text while
 * `regex` is on) → a case-insensitive regular expression; else fuzzy (the characters in
 * order). A bad expression is an error (and filters nothing out).
 */
export function parseFilter(text: string, regex: boolean): KeyFilter {
  const t = text.trim();
  if (!t) return { kind: "all" };
  const slashed = /^\/(.+)\/([a-z]*)$/.exec(t);
  if (slashed || regex) {
    const src = slashed ? slashed[1]! : t;
    const flags = slashed ? slashed[2]! : "";
    try {
      return { kind: "regex", re: new RegExp(src, flags.includes("i") ? flags : `${flags}i`) };
    } catch (e) {
      return { kind: "error", message: e instanceof Error ? e.message : String(e) };
    }
  }
  return { kind: "fuzzy", query: t };
}

export function matchesKey(f: KeyFilter, key: string): boolean {
  switch (f.kind) {
    case "all":
    case "error":
      return true;
    case "regex":
      f.re.lastIndex = 0;
      return f.re.test(key);
    case "fuzzy":
      return fuzzyMatch(f.query, key) !== null;
  }
}

/** The group of a key: the part before its first `/` ("" for a key without one). */
export function prefixOf(key: string): string {
  const i = key.indexOf("/");
  return i > 0 ? key.slice(0, i) : "";
}

export interface KeyGroup {
  prefix: string;
  /** How the section is titled: `train/`, or `(no prefix)`. */
  title: string;
  /** Keys shown (filtered), in order. */
  keys: string[];
  /** Keys of this prefix before filtering. */
  total: number;
}

const collator = new Intl.Collator("en", { numeric: true });

/** Section order: keys without a prefix first, then by name, `sys/` last. */
function groupOrder(a: string, b: string): number {
  const rank = (p: string) => (p === "" ? 0 : p === "sys" ? 2 : 1);
  return rank(a) - rank(b) || collator.compare(a, b);
}

/**
 * The sections of the grid: every key (deduplicated) by prefix, keys in natural order
 * (`gpu2` before `gpu10`); only keys the filter keeps are listed, and a section left
 * empty by the filter is dropped.
 */
export function groupKeys(keys: Iterable<string>, filter: KeyFilter): KeyGroup[] {
  const byPrefix = new Map<string, { all: number; keys: string[] }>();
  for (const k of new Set(keys)) {
    const p = prefixOf(k);
    let g = byPrefix.get(p);
    if (!g) byPrefix.set(p, (g = { all: 0, keys: [] }));
    g.all += 1;
    if (matchesKey(filter, k)) g.keys.push(k);
  }
  const out: KeyGroup[] = [];
  for (const p of [...byPrefix.keys()].sort(groupOrder)) {
    const g = byPrefix.get(p)!;
    if (!g.keys.length) continue;
    g.keys.sort(collator.compare);
    out.push({ prefix: p, title: p ? `${p}/` : "(no prefix)", keys: g.keys, total: g.all });
  }
  return out;
}

/** Keys shown and keys known, for the toolbar's count. */
export function countKeys(groups: KeyGroup[]): { shown: number; total: number } {
  let shown = 0;
  let total = 0;
  for (const g of groups) {
    shown += g.keys.length;
    total += g.total;
  }
  return { shown, total };
}
