// How the dashboard shows a command's result (any JSON a handler returned): never as raw
// JSON. Numbers get 5 significant digits (fmtValue), keys are aligned, nesting is shown by
// dotted paths. `resultSummary` is the one-line form (state cells, history, events);
// `resultRows` the expanded one.
import { fmtValue } from "./format";

/** One row of an expanded result: a dotted path (`val.acc`, `0.label`) and its value. */
export interface ResultRow {
  key: string;
  value: string;
}

/** Rows kept in an expanded result (more are summed up in a last row). */
export const MAX_RESULT_ROWS = 200;
/** Items of a short list of numbers shown inline: `[0.1, 0.2, 0.3]`. */
const INLINE_ITEMS = 6;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** A scalar as text: numbers to 5 significant digits, strings as they are. */
export function fmtScalar(v: unknown): string {
  if (v === null || v === undefined) return "—";
  if (typeof v === "string") return v;
  return fmtValue(v);
}

/** A value that fits on one line as is: a scalar, or a short list of scalars. */
function inline(v: unknown): string | null {
  if (!isPlainObject(v) && !Array.isArray(v)) return fmtScalar(v);
  if (Array.isArray(v) && v.length <= INLINE_ITEMS && v.every((x) => !isPlainObject(x) && !Array.isArray(x))) {
    return `[${v.map(fmtScalar).join(", ")}]`;
  }
  if (Array.isArray(v) && v.length === 0) return "[]";
  if (isPlainObject(v) && Object.keys(v).length === 0) return "{}";
  return null;
}

/** The result as aligned rows: nested objects and lists flattened to dotted paths. */
export function resultRows(v: unknown, max = MAX_RESULT_ROWS): ResultRow[] {
  const rows: ResultRow[] = [];
  let dropped = 0;
  const walk = (x: unknown, path: string) => {
    const one = inline(x);
    if (one !== null) {
      if (rows.length < max) rows.push({ key: path || "value", value: one });
      else dropped += 1;
      return;
    }
    const entries: Array<[string, unknown]> = Array.isArray(x) ? x.map((item, i) => [String(i), item]) : Object.entries(x as object);
    for (const [k, item] of entries) walk(item, path ? `${path}.${k}` : k);
  };
  walk(v, "");
  if (dropped) rows.push({ key: "…", value: `${dropped} more` });
  return rows;
}

/** The key column's width in characters (for aligning the values after it). */
export function keyWidth(rows: ResultRow[]): number {
  return rows.reduce((w, r) => Math.max(w, r.key.length), 0);
}

/** The expanded result as aligned plain text (a tooltip, a copy). */
export function resultText(v: unknown): string {
  const rows = resultRows(v);
  const w = keyWidth(rows);
  return rows.map((r) => `${r.key.padEnd(w)}  ${r.value}`).join("\n");
}

/**
 * The one-line form: `val_loss 0.23457 · val_acc 0.91 · step 1200`; a list of objects as
 * `5 items: {x, label, pred, confidence}`; cut at `max` characters.
 */
export function resultSummary(v: unknown, max = 160): string {
  let s: string;
  const one = inline(v);
  if (one !== null) s = one;
  else if (Array.isArray(v)) {
    const first = v[0];
    const shape = isPlainObject(first) ? `{${Object.keys(first).join(", ")}}` : inline(first) ?? "…";
    s = `${v.length} items: ${shape}`;
  } else {
    s = Object.entries(v as object)
      .map(([k, x]) => {
        const item = inline(x);
        if (item !== null) return `${k} ${item}`;
        return Array.isArray(x) ? `${k} [${x.length} items]` : `${k} {${Object.keys(x as object).length} keys}`;
      })
      .join(" · ");
  }
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}
