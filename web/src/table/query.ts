// The table's query: the filter box's text (the server's query language, sent as `q`)
// plus a term or two per column filter, and the sort (`sort=`). Pure, for tests.
import type { ColumnSpec } from "./columns";

export interface SortTerm {
  col: string;
  desc: boolean;
}

/** `-metric:val/acc:last,created_at` */
export function sortParam(sort: readonly SortTerm[]): string {
  return sort.map((s) => `${s.desc ? "-" : ""}${s.col}`).join(",");
}

export function parseSortParam(text: string): SortTerm[] {
  const out: SortTerm[] = [];
  for (const part of text.split(",")) {
    const p = part.trim();
    if (!p || p === "-") continue;
    const desc = p.startsWith("-");
    const col = desc ? p.slice(1) : p;
    if (!out.some((s) => s.col === col)) out.push({ col, desc });
  }
  return out;
}

/** The direction a first click sorts in: times and durations newest/longest first. */
export function defaultDesc(spec: Pick<ColumnSpec, "kind"> | null): boolean {
  return spec?.kind === "time" || spec?.kind === "duration";
}

/**
 * A click on a header. Plain: sort by that column alone (a second click flips it). With
 * `add` (shift-click): the column joins the sort as the next key, or flips if already in.
 */
export function clickSort(sort: readonly SortTerm[], col: string, add: boolean, firstDesc: boolean): SortTerm[] {
  const at = sort.findIndex((s) => s.col === col);
  if (add) {
    if (at < 0) return [...sort, { col, desc: firstDesc }];
    return sort.map((s, i) => (i === at ? { col, desc: !s.desc } : s));
  }
  if (at === 0 && sort.length === 1) return [{ col, desc: !sort[0]!.desc }];
  return [{ col, desc: at >= 0 ? sort[at]!.desc : firstDesc }];
}

/** A value as the query language takes it: bare when it can be, else "quoted". */
export function quoteValue(v: string): string {
  return /^[^\s"'<>=!]+$/.test(v) ? v : JSON.stringify(v);
}

/** The terms of a query (whitespace-separated, "quoted strings" kept whole). */
export function splitTerms(q: string): string[] {
  const out: string[] = [];
  const re = /(?:[^\s"]+|"(?:[^"\\]|\\.)*"?)+/g;
  for (const m of q.matchAll(re)) out.push(m[0]);
  return out;
}

/** The query with `term` added (once). */
export function addTerm(q: string, term: string): string {
  const terms = splitTerms(q);
  if (terms.includes(term)) return q;
  return [...terms, term].join(" ");
}

const DUR_UNIT: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** `90`, `5m`, `1h30m`, `2d` → seconds; null when not a duration. */
export function parseDuration(text: string): number | null {
  const t = text.trim();
  if (/^-?\d+(\.\d+)?(e-?\d+)?$/i.test(t)) return Number(t);
  const re = /(\d+(?:\.\d+)?)([smhd])/gy;
  let total = 0;
  let end = 0;
  for (const m of t.matchAll(re)) {
    total += Number(m[1]) * DUR_UNIT[m[2]!]!;
    end = (m.index ?? 0) + m[0].length;
  }
  return end === t.length && t.length > 0 ? total : null;
}

function numberOf(text: string, kind: ColumnSpec["kind"]): string | null {
  const t = text.trim();
  if (kind === "duration") {
    const d = parseDuration(t);
    return d === null ? null : String(d);
  }
  return t !== "" && Number.isFinite(Number(t)) ? String(Number(t)) : null;
}

export interface FilterTerms {
  terms: string[];
  /** Why the filter text was not understood (its terms are then empty). */
  error: string | null;
}

const OPS = ["<=", ">=", "!=", "<", ">", "="] as const;

/** Regex metacharacters escaped: a name filter matches its text literally. */
export function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * A column filter's text → query terms. Numbers: `0.1..0.5` (a range, either end may be
 * left out), `>0.9`, `<=3`, `!=0`, `=2` or a bare number (`5m`, `1h` for durations).
 * Status: a status (several with commas: any of them). Tags: a tag. Names: a substring.
 * Config values: a comparison as for numbers, or a bare word (that value).
 */
export function columnFilterTerms(spec: ColumnSpec, raw: string): FilterTerms {
  const text = raw.trim();
  if (!text || !spec.queryKey) return { terms: [], error: null };
  const k = spec.queryKey;
  if (spec.kind === "status") {
    const list = text.split(",").map((s) => s.trim().toLowerCase()).filter(Boolean);
    return { terms: [`status:${list.join(",")}`], error: null };
  }
  if (spec.kind === "tags") return { terms: [`tag:${quoteValue(text)}`], error: null };
  if (spec.kind === "text") {
    if (k === "name") return { terms: [`name:~${quoteValue(escapeRegex(text))}`], error: null };
    return { terms: [`${k}:${quoteValue(text)}`], error: null };
  }
  const range = /^(.*?)\.\.(.*)$/.exec(text);
  if (range) {
    const lo = range[1]!.trim();
    const hi = range[2]!.trim();
    const terms: string[] = [];
    for (const [v, op] of [
      [lo, ">="],
      [hi, "<="],
    ] as const) {
      if (!v) continue;
      const n = numberOf(v, spec.kind);
      if (n === null) return { terms: [], error: `${spec.label}: "${v}" is not a number` };
      terms.push(`${k}${op}${n}`);
    }
    return { terms, error: terms.length ? null : `${spec.label}: an empty range` };
  }
  const op = OPS.find((o) => text.startsWith(o));
  const value = op ? text.slice(op.length).trim() : text;
  const n = numberOf(value, spec.kind);
  if (n !== null) return { terms: [`${k}${op ?? "="}${n}`], error: null };
  if (spec.kind === "any" && value && (!op || op === "=" || op === "!=")) {
    return { terms: [`${k}${op ?? "="}${quoteValue(value)}`], error: null };
  }
  return { terms: [], error: `${spec.label}: "${text}" — try 0.1..0.5, >0.9, <=3${spec.kind === "duration" ? ", >5m" : ""}` };
}

/** The `q` sent: the filter box's text, then every column filter's terms. */
export function composeQuery(
  box: string,
  filters: Readonly<Record<string, string>>,
  spec: (id: string) => ColumnSpec | null,
): { q: string; errors: string[] } {
  const parts = box.trim() ? [box.trim()] : [];
  const errors: string[] = [];
  for (const [id, text] of Object.entries(filters)) {
    const s = spec(id);
    if (!s || !text.trim()) continue;
    const f = columnFilterTerms(s, text);
    if (f.error) errors.push(f.error);
    parts.push(...f.terms);
  }
  return { q: parts.join(" "), errors };
}
