// Config flattening and multi-run diff for the config panel.

export type Flat = Map<string, unknown>;

/** {a:{b:1}, c:[2,{d:3}]} → a.b=1, c.0=2, c.1.d=3; empty objects/arrays kept as leaves. */
export function flatten(value: unknown, prefix = "", out: Flat = new Map()): Flat {
  if (value !== null && typeof value === "object") {
    const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v] as const) : Object.entries(value);
    if (!entries.length) {
      if (prefix) out.set(prefix, value);
      return out;
    }
    for (const [k, v] of entries) flatten(v, prefix ? `${prefix}.${k}` : k, out);
    return out;
  }
  if (prefix) out.set(prefix, value);
  return out;
}

/** A stable text for comparing and showing a leaf value; `undefined` is "absent". */
export function leafText(v: unknown): string {
  if (v === undefined) return "—";
  if (typeof v === "string") return JSON.stringify(v);
  return JSON.stringify(v) ?? String(v);
}

export interface DiffRow {
  key: string;
  /** One per run, in the given order; undefined where the run lacks the key. */
  values: unknown[];
  differs: boolean;
}

/** Rows for every key of any config, sorted by key; `all` false keeps differing ones only. */
export function diffConfigs(configs: unknown[], all = false): DiffRow[] {
  const flats = configs.map((c) => flatten(c));
  const keys = new Set<string>();
  for (const f of flats) for (const k of f.keys()) keys.add(k);
  const rows: DiffRow[] = [];
  for (const key of [...keys].sort()) {
    const values = flats.map((f) => (f.has(key) ? f.get(key) : undefined));
    const texts = values.map((v, i) => (flats[i]!.has(key) ? leafText(v) : "\u0000absent"));
    const differs = texts.some((t) => t !== texts[0]);
    if (all || differs) rows.push({ key, values, differs });
  }
  return rows;
}

export type ValueKind = "string" | "number" | "boolean" | "null" | "object" | "array";

export function kindOf(v: unknown): ValueKind {
  if (v === null || v === undefined) return "null";
  if (Array.isArray(v)) return "array";
  const t = typeof v;
  if (t === "string" || t === "number" || t === "boolean") return t;
  return "object";
}
