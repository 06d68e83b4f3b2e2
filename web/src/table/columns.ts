// The run table's columns: ids as the server spells them (GET /api/runs?columns=&sort=),
// what each one is (built-in, metric last/min/max, config key, tags), its label, its kind
// (how it filters and aligns) and its width. Pure; the table's state lives in state.ts.

export type Agg = "last" | "min" | "max";
export type ColumnKind = "status" | "text" | "number" | "time" | "duration" | "tags" | "any";

export interface ColumnSpec {
  id: string;
  label: string;
  kind: ColumnKind;
  /** Width in ch. */
  width: number;
  /** The column's key in the query language (`lr<0.01`, `metric:loss:min<3`), or null. */
  queryKey: string | null;
  /** False: the server cannot sort by it (tags). */
  sortable: boolean;
  title: string;
}

interface BuiltIn {
  label: string;
  kind: ColumnKind;
  width: number;
  query: string | null;
  title: string;
  sortable?: boolean;
}

export const BUILT_INS: Record<string, BuiltIn> = {
  status: { label: "STATUS", kind: "status", width: 12, query: "status", title: "the run's status" },
  name: { label: "NAME", kind: "text", width: 22, query: "name", title: "the run's name" },
  project: { label: "PROJECT", kind: "text", width: 12, query: "project", title: "the run's project" },
  tags: { label: "TAGS", kind: "tags", width: 14, query: "tag", title: "the run's tags", sortable: false },
  created_at: { label: "CREATED", kind: "time", width: 11, query: "created_at", title: "when the run was created" },
  duration: { label: "DUR", kind: "duration", width: 7, query: "duration", title: "run time, seconds" },
  step: { label: "STEP", kind: "number", width: 8, query: "step", title: "the last step logged" },
  progress: { label: "PROG", kind: "number", width: 6, query: "progress", title: "last step / total steps" },
  eta_s: { label: "ETA", kind: "duration", width: 7, query: "eta_s", title: "seconds left (running runs with a total and a speed)" },
  steps_per_s: { label: "STEP/S", kind: "number", width: 7, query: "steps_per_s", title: "steps per second (smoothed)" },
  heartbeat_at: { label: "HEARTBEAT", kind: "time", width: 11, query: null, title: "the last heartbeat" },
  ended_at: { label: "ENDED", kind: "time", width: 11, query: null, title: "when the run ended" },
};

export const DEFAULT_COLUMNS = ["status", "name", "tags", "duration", "step", "progress", "eta_s"];

export type ParsedColumn =
  | { type: "builtin"; id: string }
  | { type: "metric"; key: string; agg: Agg }
  | { type: "config"; key: string };

/** `metric:val/acc:min` → its parts (a metric key may hold `:`; the last part is the aggregate). */
export function parseColumn(id: string): ParsedColumn | null {
  if (id in BUILT_INS) return { type: "builtin", id };
  if (id.startsWith("metric:")) {
    const rest = id.slice(7);
    const m = /^(.+):(last|min|max)$/.exec(rest);
    if (m) return { type: "metric", key: m[1]!, agg: m[2] as Agg };
    return rest ? { type: "metric", key: rest, agg: "last" } : null;
  }
  if (id.startsWith("config:")) {
    const key = id.slice(7);
    return key ? { type: "config", key } : null;
  }
  return null;
}

export function metricColumn(key: string, agg: Agg = "last"): string {
  return `metric:${key}:${agg}`;
}

export function configColumn(key: string): string {
  return `config:${key}`;
}

/** A query-language key for a metric or config key (quoted when it holds spaces or quotes). */
function qk(prefix: string, key: string, suffix = ""): string {
  const k = `${prefix}${key}${suffix}`;
  return /[\s"<>=!]/.test(k) ? JSON.stringify(k) : k;
}

export function columnSpec(id: string): ColumnSpec | null {
  const p = parseColumn(id);
  if (!p) return null;
  if (p.type === "builtin") {
    const b = BUILT_INS[p.id]!;
    return { id, label: b.label, kind: b.kind, width: b.width, queryKey: b.query, sortable: b.sortable ?? true, title: b.title };
  }
  if (p.type === "metric") {
    const label = p.agg === "last" ? p.key : `${p.key} ${p.agg}`;
    return {
      id,
      label,
      kind: "number",
      width: Math.max(9, Math.min(18, label.length + 2)),
      queryKey: qk("metric:", p.key, `:${p.agg}`),
      sortable: true,
      title: `the ${p.agg === "last" ? "last logged" : p.agg} value of ${p.key}`,
    };
  }
  return {
    id,
    label: p.key,
    kind: "any",
    width: Math.max(8, Math.min(16, p.key.length + 2)),
    queryKey: qk("config:", p.key),
    sortable: true,
    title: `config ${p.key}`,
  };
}

/** Known column ids only, each once, in order. */
export function validColumns(ids: readonly unknown[]): string[] {
  const out: string[] = [];
  for (const id of ids) if (typeof id === "string" && parseColumn(id) && !out.includes(id)) out.push(id);
  return out;
}

/** Add a column (at the end) or remove it. */
export function toggleColumn(cols: readonly string[], id: string): string[] {
  return cols.includes(id) ? cols.filter((c) => c !== id) : [...cols, id];
}

/** Move a column by `delta` places. */
export function moveColumn(cols: readonly string[], id: string, delta: number): string[] {
  const i = cols.indexOf(id);
  const j = i + delta;
  if (i < 0 || j < 0 || j >= cols.length) return [...cols];
  const out = [...cols];
  out.splice(i, 1);
  out.splice(j, 0, id);
  return out;
}
