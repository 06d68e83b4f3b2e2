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

/** Where a path is drawn: a canvas context, or a test's recorder. */
export interface PathSink {
  moveTo(x: number, y: number): void;
  lineTo(x: number, y: number): void;
}

/**
 * A stretch of a band as vertical spans, one a pixel column: at `cx[k]` (whole device
 * pixels, increasing) from `top[k]` to `bot[k]`, and in each column between two of them
 * the span between theirs (what the band's polygon would cover there). Each span is drawn
 * through the column's middle, so a one-pixel hairline fills exactly that column.
 */
export function columnSpans(path: PathSink, cx: number[], top: number[], bot: number[], n: number): void {
  for (let k = 0; k < n; k++) {
    const X = cx[k]! + 0.5;
    const t = top[k]!;
    const b = bot[k]!;
    path.moveTo(X, t);
    path.lineTo(X, b);
    const g = k + 1 < n ? cx[k + 1]! - cx[k]! : 1;
    for (let j = 1; j < g; j++) {
      const f = j / g;
      path.moveTo(X + j, t + f * (top[k + 1]! - t));
      path.lineTo(X + j, b + f * (bot[k + 1]! - b));
    }
  }
}
