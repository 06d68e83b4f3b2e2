// Where values land on the canvas, as one multiply-add a point. uPlot's valToPos goes
// through several calls a value; drawing 10 runs of 1,000 buckets calls it ~40,000 times,
// and the first draw of a page runs before the JIT has compiled any of them (it cost
// ~20 ms there). A linear scale maps v to a + b·v, a log scale log10(v) to a + b·log10(v):
// both are derived from valToPos itself at the scale's two ends.
import type uPlot from "uplot";

/** Canvas pixels of a scale: `a + b * v` (`a + b * log10(v)` when `log`). */
export interface Affine {
  a: number;
  b: number;
  log: boolean;
}

/** The scale `key` of `u` as an Affine, or null while it has no extent. */
export function affine(u: uPlot, key: string, log: boolean): Affine | null {
  const sc = u.scales[key];
  const lo = sc?.min;
  const hi = sc?.max;
  if (lo === undefined || lo === null || hi === undefined || hi === null || !(hi > lo)) return null;
  if (log && !(lo > 0)) return null;
  const f0 = log ? Math.log10(lo) : lo;
  const f1 = log ? Math.log10(hi) : hi;
  const p0 = u.valToPos(lo, key, true);
  const p1 = u.valToPos(hi, key, true);
  const b = (p1 - p0) / (f1 - f0);
  if (!Number.isFinite(b) || !Number.isFinite(p0)) return null;
  return { a: p0 - b * f0, b, log };
}

/** Where `v` lands on the scale. */
export function toPx(t: Affine, v: number): number {
  return t.a + t.b * (t.log ? Math.log10(v) : v);
}
