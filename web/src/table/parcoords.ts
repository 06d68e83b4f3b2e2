// Parallel coordinates, the arithmetic: an axis per config key (and the metric last), each
// scaled to its runs' values — linear, log when positive and spanning ≥ 3 decades, or
// categories (strings, booleans) evenly spaced. Pure, for tests; ParCoords.tsx draws.

export type AxisKind = "linear" | "log" | "category";

export interface Axis {
  id: string;
  label: string;
  kind: AxisKind;
  min: number;
  max: number;
  /** Category axes: the values, bottom to top. */
  categories: string[];
}

/** A value as a number when it is one (numbers, numeric strings); null otherwise. */
export function numeric(v: unknown): number | null {
  if (typeof v === "number") return Number.isFinite(v) ? v : null;
  if (typeof v === "string" && v.trim() !== "" && !/^(nan|[+-]?inf(inity)?)$/i.test(v.trim())) {
    const n = Number(v);
    return Number.isFinite(n) ? n : null;
  }
  return null;
}

function nonFinite(v: unknown): boolean {
  if (typeof v === "number") return !Number.isFinite(v);
  return typeof v === "string" && /^(nan|[+-]?inf(inity)?)$/i.test(v.trim());
}

function category(v: unknown): string | null {
  if (v === null || v === undefined || nonFinite(v)) return null;
  if (typeof v === "string") return v;
  if (typeof v === "boolean" || typeof v === "number") return String(v);
  return JSON.stringify(v);
}

/** The axis for these values: numeric when every present value is a number. */
export function buildAxis(id: string, label: string, values: readonly unknown[]): Axis {
  // non-finite values (NaN, ±Inf, as numbers or spelled) have no place on any axis
  const present = values.filter((v) => v !== null && v !== undefined && !nonFinite(v));
  const nums = present.map(numeric);
  const allNumeric = present.length > 0 && present.every((v, i) => nums[i] !== null && typeof v !== "boolean");
  if (!allNumeric) {
    const cats = [...new Set(present.map(category).filter((c): c is string => c !== null))];
    cats.sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
    return { id, label, kind: "category", min: 0, max: Math.max(0, cats.length - 1), categories: cats };
  }
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (const n of nums) {
    if (n === null) continue;
    if (n < min) min = n;
    if (n > max) max = n;
  }
  const kind: AxisKind = min > 0 && Math.log10(max) - Math.log10(min) >= 3 - 1e-9 ? "log" : "linear";
  return { id, label, kind, min, max, categories: [] };
}

/** Where a value sits on its axis: 0 (bottom) … 1 (top); null when it has no place. */
export function position(axis: Axis, v: unknown): number | null {
  if (axis.kind === "category") {
    const c = category(v);
    if (c === null) return null;
    const i = axis.categories.indexOf(c);
    if (i < 0) return null;
    return axis.categories.length === 1 ? 0.5 : i / (axis.categories.length - 1);
  }
  const n = numeric(v);
  if (n === null) return null;
  if (axis.max === axis.min) return 0.5;
  if (axis.kind === "log") {
    if (n <= 0) return null;
    return (Math.log10(n) - Math.log10(axis.min)) / (Math.log10(axis.max) - Math.log10(axis.min));
  }
  return (n - axis.min) / (axis.max - axis.min);
}

/** The value at a position (the inverse of `position`; numeric axes only). */
export function valueAt(axis: Axis, p: number): number | null {
  if (axis.kind === "category") return null;
  if (axis.max === axis.min) return axis.min;
  if (axis.kind === "log") return 10 ** (Math.log10(axis.min) + p * (Math.log10(axis.max) - Math.log10(axis.min)));
  return axis.min + p * (axis.max - axis.min);
}

/** A few labelled ticks per axis: [position, text]. */
export function ticks(axis: Axis, fmt: (n: number) => string): Array<[number, string]> {
  if (axis.kind === "category") {
    const n = axis.categories.length;
    const every = Math.max(1, Math.ceil(n / 8));
    return axis.categories.flatMap((c, i) => (i % every === 0 ? [[n === 1 ? 0.5 : i / (n - 1), c] as [number, string]] : []));
  }
  if (axis.max === axis.min) return [[0.5, fmt(axis.min)]];
  return [0, 0.5, 1].map((p) => [p, fmt(valueAt(axis, p)!)] as [number, string]);
}

/** Every run's polyline: one position per axis (null: no value there). */
export function polylines(axes: readonly Axis[], rows: ReadonlyArray<Record<string, unknown>>): Array<Array<number | null>> {
  return rows.map((r) => axes.map((a) => position(a, r[a.id])));
}

/** The x of axis `i` of `n` across a width, with room for labels at both ends. */
export function axisX(i: number, n: number, width: number, pad = 40): number {
  if (n <= 1) return width / 2;
  return pad + (i * (width - 2 * pad)) / (n - 1);
}

/** An amber → cyan ramp for the metric's position (0..1). */
export function rampColor(t: number): string {
  const c = Math.max(0, Math.min(1, t));
  const a = [255, 176, 0];
  const b = [0, 229, 255];
  const m = a.map((x, i) => Math.round(x + (b[i]! - x) * c));
  return `rgb(${m[0]},${m[1]},${m[2]})`;
}
