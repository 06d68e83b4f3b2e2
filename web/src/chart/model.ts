// The chart's data model, free of the DOM: per (run, key) a series of exact buckets in
// plain number columns (no object per point), filled from the server's bucket reads and
// grown by live points; adjacent buckets are merged pairwise (exactly) when the series
// grows past twice its target. Non-finite values are never dropped: min/max/mean cover the
// finite values (NaN where a bucket has none) and nan/pinf/ninf count the others.
import { toNumber, type BucketColumns } from "../api/client";

/** A value as the legend shows it (NaN, +Inf, -Inf; 5 significant digits): one formatter for every panel. */
export { fmtValue } from "../format";

export type Axis = "step" | "time";

/** One series as columns; index i is bucket i, in x order. */
export class BucketSeries {
  s0: number[] = [];
  s1: number[] = [];
  t0: number[] = [];
  t1: number[] = [];
  min: number[] = [];
  max: number[] = [];
  mean: number[] = [];
  last: number[] = [];
  count: number[] = [];
  nan: number[] = [];
  pinf: number[] = [];
  ninf: number[] = [];
  /** Width (in x units) a bucket may span before a live point starts a new one. */
  width = 0;
  /** Bumped by every change of the buckets (what `buildData`'s cache compares). */
  version = 0;
  /**
   * Bumped by the changes that may rewrite any bucket (a load, a merge); the others (a
   * live point, buckets added after the last) change only the last bucket and add new
   * ones, so a drawing built before them is brought up to date from its last bucket on.
   */
  reshaped = 0;

  constructor(
    readonly axis: Axis = "step",
    /** About how many buckets the chart wants; merging keeps at most 2× this. */
    readonly target = 1000,
  ) {}

  get length(): number {
    return this.s0.length;
  }

  /** Largest step held (-Infinity when empty). */
  get lastStep(): number {
    const n = this.s1.length;
    return n ? this.s1[n - 1]! : Number.NEGATIVE_INFINITY;
  }

  /** Points the buckets cover. */
  get points(): number {
    let n = 0;
    for (const c of this.count) n += c;
    return n;
  }

  x0(i: number): number {
    return this.axis === "step" ? this.s0[i]! : this.t0[i]!;
  }

  x1(i: number): number {
    return this.axis === "step" ? this.s1[i]! : this.t1[i]!;
  }

  /** Where a bucket is drawn: the middle of its x span. */
  xMid(i: number): number {
    return (this.x0(i) + this.x1(i)) / 2;
  }

  /** A series from the server's columns (replacing what was held). */
  static fromColumns(c: BucketColumns | null | undefined, axis: Axis = "step", target = 1000): BucketSeries {
    const s = new BucketSeries(axis, target);
    if (c) s.load(c);
    return s;
  }

  load(c: BucketColumns): void {
    this.version++;
    this.reshaped++;
    const n = c.first_step.length;
    this.s0 = c.first_step.slice();
    this.s1 = c.last_step.slice();
    this.t0 = c.first_time.slice();
    this.t1 = c.last_time.slice();
    this.count = c.count.slice();
    this.nan = c.nan.slice();
    this.pinf = c.pinf.slice();
    this.ninf = c.ninf.slice();
    this.min = new Array<number>(n);
    this.max = new Array<number>(n);
    this.mean = new Array<number>(n);
    this.last = new Array<number>(n);
    for (let i = 0; i < n; i++) {
      this.min[i] = c.min[i] ?? Number.NaN;
      this.max[i] = c.max[i] ?? Number.NaN;
      this.mean[i] = c.mean[i] ?? Number.NaN;
      this.last[i] = toNumber(c.last[i]) ?? Number.NaN;
    }
    this.resetWidth();
  }

  /** The span of the held x range divided among the target buckets. */
  resetWidth(): void {
    const n = this.length;
    this.width = n ? Math.max(0, (this.x1(n - 1) - this.x0(0)) / this.target) : 0;
  }

  /**
   * Add one live point. A point at a step already held is ignored (dedupe); one beyond the
   * last bucket extends it while it stays within `width`, else starts a new bucket.
   * Returns false when the point was a duplicate.
   */
  append(step: number, time: number, value: number): boolean {
    if (step <= this.lastStep) return false;
    this.version++;
    const n = this.length;
    const x = this.axis === "step" ? step : time;
    const finite = Number.isFinite(value);
    if (n && x - this.x0(n - 1) < this.width) {
      const i = n - 1;
      this.s1[i] = step;
      this.t1[i] = time;
      if (finite) {
        const fin = this.finiteCount(i);
        this.mean[i] = fin ? (this.mean[i]! * fin + value) / (fin + 1) : value;
        this.min[i] = fin ? Math.min(this.min[i]!, value) : value;
        this.max[i] = fin ? Math.max(this.max[i]!, value) : value;
      } else if (Number.isNaN(value)) this.nan[i]! += 1;
      else if (value > 0) this.pinf[i]! += 1;
      else this.ninf[i]! += 1;
      this.count[i]! += 1;
      this.last[i] = value;
    } else {
      this.s0.push(step);
      this.s1.push(step);
      this.t0.push(time);
      this.t1.push(time);
      this.count.push(1);
      this.min.push(finite ? value : Number.NaN);
      this.max.push(finite ? value : Number.NaN);
      this.mean.push(finite ? value : Number.NaN);
      this.last.push(value);
      this.nan.push(Number.isNaN(value) ? 1 : 0);
      this.pinf.push(value === Number.POSITIVE_INFINITY ? 1 : 0);
      this.ninf.push(value === Number.NEGATIVE_INFINITY ? 1 : 0);
    }
    if (this.length > 2 * this.target) this.mergePairs();
    return true;
  }

  /** Finite values in bucket i. */
  finiteCount(i: number): number {
    return this.count[i]! - this.nan[i]! - this.pinf[i]! - this.ninf[i]!;
  }

  /**
   * Merge adjacent pairs (0+1, 2+3, …; an odd last bucket stays as is), exactly: min of
   * mins, max of maxes, mean weighted by finite counts, last of the later, counts summed.
   */
  mergePairs(): void {
    this.version++;
    this.reshaped++;
    const n = this.length;
    let w = 0;
    for (let i = 0; i < n; i += 2, w++) {
      if (i + 1 >= n) {
        this.copy(i, w);
        continue;
      }
      const j = i + 1;
      const fa = this.finiteCount(i);
      const fb = this.finiteCount(j);
      const mean =
        fa + fb === 0
          ? Number.NaN
          : fa === 0
            ? this.mean[j]!
            : fb === 0
              ? this.mean[i]!
              : (this.mean[i]! * fa + this.mean[j]! * fb) / (fa + fb);
      const min = fa === 0 ? this.min[j]! : fb === 0 ? this.min[i]! : Math.min(this.min[i]!, this.min[j]!);
      const max = fa === 0 ? this.max[j]! : fb === 0 ? this.max[i]! : Math.max(this.max[i]!, this.max[j]!);
      this.s0[w] = this.s0[i]!;
      this.t0[w] = this.t0[i]!;
      this.s1[w] = this.s1[j]!;
      this.t1[w] = this.t1[j]!;
      this.min[w] = min;
      this.max[w] = max;
      this.mean[w] = mean;
      this.last[w] = this.last[j]!;
      this.count[w] = this.count[i]! + this.count[j]!;
      this.nan[w] = this.nan[i]! + this.nan[j]!;
      this.pinf[w] = this.pinf[i]! + this.pinf[j]!;
      this.ninf[w] = this.ninf[i]! + this.ninf[j]!;
    }
    this.truncate(w);
    this.width = Math.max(this.width * 2, n ? (this.x1(w - 1) - this.x0(0)) / this.target : 0);
  }

  private copy(from: number, to: number): void {
    if (from === to) return;
    for (const col of this.columns()) col[to] = col[from]!;
  }

  private truncate(n: number): void {
    for (const col of this.columns()) col.length = n;
  }

  private columns(): number[][] {
    return [this.s0, this.s1, this.t0, this.t1, this.min, this.max, this.mean, this.last,
      this.count, this.nan, this.pinf, this.ninf];
  }

  /** Copy `other`'s buckets that start after this series' last step (live catch-up). */
  appendBucketsAfter(other: BucketSeries): void {
    const last = this.lastStep;
    this.version++;
    const mine = this.columns();
    const theirs = other.columns();
    for (let i = 0; i < other.length; i++) {
      if (other.s0[i]! <= last) continue;
      for (let c = 0; c < mine.length; c++) mine[c]!.push(theirs[c]![i]!);
    }
  }

  /** Index of the bucket whose middle is nearest to x (-1: empty). */
  nearest(x: number): number {
    const n = this.length;
    if (!n) return -1;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.xMid(mid) < x) lo = mid + 1;
      else hi = mid;
    }
    if (lo > 0 && Math.abs(this.xMid(lo - 1) - x) <= Math.abs(this.xMid(lo) - x)) return lo - 1;
    return lo;
  }

  /** Index of the first bucket whose x1 >= x (binary search). */
  lowerIndex(x: number): number {
    let lo = 0;
    let hi = this.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.x1(mid) < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Index after the last bucket whose x0 <= x. */
  upperIndex(x: number): number {
    let lo = 0;
    let hi = this.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.x0(mid) <= x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * This series with the buckets of `fine` (a finer read of [lo, hi]) in place of its own
   * buckets that overlap that window: coarse outside, fine inside.
   */
  splice(fine: BucketSeries, lo: number, hi: number): BucketSeries {
    // room for both without merging the fine part away on the next live point
    const out = new BucketSeries(this.axis, this.target + fine.length);
    out.width = this.width;
    const a = this.lowerIndex(lo); // coarse buckets before a end before the window
    const b = Math.max(a, this.upperIndex(hi)); // those from b start after it
    const cols = this.columns();
    const fcols = fine.columns();
    const ocols = out.columns();
    for (let c = 0; c < cols.length; c++) {
      const src = cols[c]!;
      const o = ocols[c]!;
      for (let i = 0; i < a; i++) o.push(src[i]!);
      for (const v of fcols[c]!) o.push(v);
      for (let i = b; i < src.length; i++) o.push(src[i]!);
    }
    return out;
  }
}

/**
 * Exponential moving average over `values` (TensorBoard's, debiased), skipping non-finite
 * values: their output is NaN and they do not move the average.
 */
export function ema(values: ArrayLike<number>, weight: number, out?: Float64Array): Float64Array {
  const n = values.length;
  const res = out && out.length === n ? out : new Float64Array(n);
  const w = Math.min(Math.max(weight, 0), 0.999);
  let acc = 0;
  let k = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v)) {
      res[i] = Number.NaN;
      continue;
    }
    acc = acc * w + (1 - w) * v;
    k += 1;
    res[i] = w === 0 ? v : acc / (1 - Math.pow(w, k));
  }
  return res;
}

/** Union of several sorted x arrays (ascending, duplicates once). */
export function unionSorted(xs: ReadonlyArray<ArrayLike<number>>): Float64Array {
  let total = 0;
  for (const a of xs) total += a.length;
  const all = new Float64Array(total);
  let o = 0;
  for (const a of xs) for (let i = 0; i < a.length; i++) all[o++] = a[i]!;
  all.sort();
  let w = 0;
  for (let i = 0; i < all.length; i++) {
    if (w === 0 || all[i] !== all[w - 1]) all[w++] = all[i]!;
  }
  return all.slice(0, w);
}

/** What one run contributes to a drawing: a series plus how to draw it. */
export interface RunData {
  runId: string;
  series: BucketSeries;
}

/** One run ready to draw: per bucket its x (middle) and values, NaN where nothing is drawn. */
export interface RunDraw {
  x: Float64Array;
  /** The mean, smoothed when asked. */
  line: Float64Array;
  /** The raw mean (only when smoothing: drawn faint behind the line). */
  raw: Float64Array | null;
  lo: Float64Array;
  hi: Float64Array;
  /** x of buckets holding NaN, +Inf, -Inf. */
  nan: number[];
  pinf: number[];
  ninf: number[];
}

export interface BuiltData {
  runs: RunDraw[];
  /** Buckets drawn, all runs. */
  points: number;
  /** Largest step drawn (-1: none). */
  lastStep: number;
  /** x extent of everything (NaN when empty). */
  xMin: number;
  xMax: number;
}

/**
 * What a painter keeps of its last drawings: per series, the typed arrays it was drawn
 * from. A live point changes only a series' last bucket (or adds one), so the next
 * drawing fills in the arrays from there instead of building every run's anew (a grid
 * redraws 30 charts of 5 runs at every live step). Keyed by the series object: one that
 * was replaced (a new read) is built afresh.
 */
export type BuildCache = WeakMap<BucketSeries, RunBuild>;

export function newBuildCache(): BuildCache {
  return new WeakMap();
}

/** One series' drawing as last built (see BuildCache). */
export interface RunBuild {
  version: number;
  reshaped: number;
  log: boolean;
  /** The arrays, with room to grow (the drawing's are views of the buckets built). */
  x: Float64Array;
  line: Float64Array;
  lo: Float64Array;
  hi: Float64Array;
  /** The bucket index of each mark, beside the drawing's x lists. */
  nanAt: number[];
  pinfAt: number[];
  ninfAt: number[];
  draw: RunDraw;
}

/**
 * Each run's buckets as typed arrays: mean smoothed by EMA (weight `smooth`); in log scale
 * values ≤ 0 are left out. With a `cache` (a painter's), unsmoothed runs are brought up to
 * date from their last drawing (see BuildCache): the same arrays as a fresh build.
 */
export function buildData(runs: RunData[], smooth: number, log: boolean, cache?: BuildCache): BuiltData {
  let points = 0;
  let lastStep = -1;
  let xMin = Number.POSITIVE_INFINITY;
  let xMax = Number.NEGATIVE_INFINITY;
  const out: RunDraw[] = runs.map(({ series: s }) => {
    const d = smooth > 0 || !cache ? buildRun(s, smooth, log) : cachedRun(s, log, cache);
    const n = d.x.length;
    if (n) {
      xMin = Math.min(xMin, d.x[0]!);
      xMax = Math.max(xMax, d.x[n - 1]!);
      lastStep = Math.max(lastStep, s.lastStep);
    }
    points += n;
    return d;
  });
  if (!points) xMin = xMax = Number.NaN;
  return { runs: out, points, lastStep, xMin, xMax };
}

/** One run's drawing, built afresh. */
function buildRun(s: BucketSeries, smooth: number, log: boolean): RunDraw {
  const n = s.length;
  const b = emptyBuild(s, log, n);
  fill(s, b, 0);
  if (smooth > 0) {
    // a value drawn: finite (v - v is 0 only then), and positive on a log scale
    const floor = log ? 0 : Number.NEGATIVE_INFINITY;
    const d = b.draw;
    d.raw = d.line;
    const sm = ema(s.mean, smooth);
    for (let i = 0; i < n; i++) {
      const v = sm[i]!;
      sm[i] = v - v === 0 && v > floor ? v : Number.NaN;
    }
    d.line = sm;
  }
  return b.draw;
}

/** One unsmoothed run's drawing: as last built when nothing changed, else brought up to date. */
function cachedRun(s: BucketSeries, log: boolean, cache: BuildCache): RunDraw {
  const n = s.length;
  let b = cache.get(s);
  if (b && b.version === s.version && b.log === log) return b.draw;
  let from = 0;
  const built = b ? b.draw.x.length : 0;
  if (b && b.reshaped === s.reshaped && b.log === log && n >= built) {
    from = Math.max(0, built - 1); // the buckets before the last one built are as they were
    if (n > b.x.length) b = grow(s, b, n);
  } else {
    b = emptyBuild(s, log, n + Math.max(16, n >> 3));
  }
  for (const [at, xs] of [[b.nanAt, b.draw.nan], [b.pinfAt, b.draw.pinf], [b.ninfAt, b.draw.ninf]] as const) {
    let k = at.length;
    while (k > 0 && at[k - 1]! >= from) k--;
    at.length = k;
    xs.length = k;
  }
  fill(s, b, from);
  b.version = s.version;
  const d = b.draw;
  if (d.x.length !== n) {
    d.x = b.x.subarray(0, n);
    d.line = b.line.subarray(0, n);
    d.lo = b.lo.subarray(0, n);
    d.hi = b.hi.subarray(0, n);
  }
  cache.set(s, b);
  return d;
}

function emptyBuild(s: BucketSeries, log: boolean, capacity: number): RunBuild {
  const n = s.length;
  const x = new Float64Array(capacity);
  const line = new Float64Array(capacity);
  const lo = new Float64Array(capacity);
  const hi = new Float64Array(capacity);
  const draw: RunDraw = {
    x: x.subarray(0, n),
    line: line.subarray(0, n),
    raw: null,
    lo: lo.subarray(0, n),
    hi: hi.subarray(0, n),
    nan: [],
    pinf: [],
    ninf: [],
  };
  return { version: s.version, reshaped: s.reshaped, log, x, line, lo, hi, nanAt: [], pinfAt: [], ninfAt: [], draw };
}

/** `b` with room for at least `n` buckets (what it holds copied over). */
function grow(s: BucketSeries, b: RunBuild, n: number): RunBuild {
  const g = emptyBuild(s, b.log, Math.max(n, b.x.length * 2));
  g.x.set(b.x);
  g.line.set(b.line);
  g.lo.set(b.lo);
  g.hi.set(b.hi);
  g.nanAt = b.nanAt;
  g.pinfAt = b.pinfAt;
  g.ninfAt = b.ninfAt;
  g.draw.nan = b.draw.nan;
  g.draw.pinf = b.draw.pinf;
  g.draw.ninf = b.draw.ninf;
  return g;
}

/** Fill `b`'s arrays (and marks) for the buckets `from`… of `s`. */
function fill(s: BucketSeries, b: RunBuild, from: number): void {
  const n = s.length;
  const { x, line: mean, lo, hi, draw: d } = b;
  // a value drawn: finite (v - v is 0 only then), and positive on a log scale. The loop is
  // kept free of calls: the first draw of a page runs before the JIT compiled anything.
  const floor = b.log ? 0 : Number.NEGATIVE_INFINITY;
  const x0 = s.axis === "step" ? s.s0 : s.t0;
  const x1 = s.axis === "step" ? s.s1 : s.t1;
  const { mean: m, min, max, nan, pinf, ninf } = s;
  for (let i = from; i < n; i++) {
    const xi = (x0[i]! + x1[i]!) / 2;
    x[i] = xi;
    const v = m[i]!;
    mean[i] = v - v === 0 && v > floor ? v : Number.NaN;
    const l = min[i]!;
    lo[i] = l - l === 0 && l > floor ? l : Number.NaN;
    const h = max[i]!;
    hi[i] = h - h === 0 && h > floor ? h : Number.NaN;
    if (nan[i]) {
      d.nan.push(xi);
      b.nanAt.push(i);
    }
    if (pinf[i]) {
      d.pinf.push(xi);
      b.pinfAt.push(i);
    }
    if (ninf[i]) {
      d.ninf.push(xi);
      b.ninfAt.push(i);
    }
  }
}

/** How far (in decades) the min/max band may widen a log scale beyond the line. */
export const LOG_BAND_DECADES = 0.5;

/**
 * The band's opacity. Linear scale: a constant. Log scale: the band of a noisy series spans
 * much of the plot (its lows are decades down) and would swamp the line, so its opacity
 * falls with its mean height (`meanPx`, in pixels of a plot `plotPx` high): full while the
 * band stays within a tenth of the plot, down to a fifth of that when it fills it.
 */
export function bandAlpha(log: boolean, meanPx: number, plotPx: number): number {
  const base = 0.14;
  if (!log || !(meanPx > 0) || !(plotPx > 0)) return base;
  const k = Math.min(1, Math.max(0.2, (0.1 * plotPx) / meanPx));
  return base * k;
}

/** First index with x[i] >= v in a sorted array. */
export function lowerBound(x: ArrayLike<number>, v: number): number {
  let lo = 0;
  let hi = x.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (x[mid]! < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The y range of what is visible in [x0, x1] (the band and the line), padded; null when
 * nothing finite is there. `log`: a multiplicative pad.
 */
export function yRange(runs: RunDraw[], x0: number, x1: number, log: boolean): [number, number] | null {
  let mn = Number.POSITIVE_INFINITY;
  let mx = Number.NEGATIVE_INFINITY;
  let lmn = Number.POSITIVE_INFINITY; // the line alone
  let lmx = Number.NEGATIVE_INFINITY;
  for (const r of runs) {
    const a = Math.max(0, lowerBound(r.x, x0) - 1);
    const b = Math.min(r.x.length, lowerBound(r.x, x1) + 1);
    for (let i = a; i < b; i++) {
      const l = r.lo[i]!;
      const h = r.hi[i]!;
      const m = r.line[i]!;
      if (l < mn) mn = l;
      if (h > mx) mx = h;
      if (m < lmn) lmn = m;
      if (m > lmx) lmx = m;
    }
  }
  if (lmn < mn) mn = lmn;
  if (lmx > mx) mx = lmx;
  if (!(mx >= mn)) return null;
  if (log) {
    // The band may reach decades below the line (a bucket holding one tiny value): it
    // may widen the scale by at most LOG_BAND_DECADES beyond the line, so the line keeps
    // the height of the plot; the rest of the band is clipped at the edge.
    if (lmx >= lmn) {
      const k = 10 ** LOG_BAND_DECADES;
      mn = Math.max(mn, lmn / k);
      mx = Math.min(mx, lmx * k);
    }
    return [mn / 1.25, mx * 1.25];
  }
  // Equal, or equal but for rounding (a smoothed constant: 0.9999999999999999 and 1): a
  // span that small leaves uPlot's axis no step to tick by (it loops until "Invalid array
  // length"), so it is widened like a constant.
  if (mx - mn <= Math.max(Math.abs(mn), Math.abs(mx)) * 1e-9) {
    const d = Math.abs(mn) * 0.1 || 1;
    return [mn - d, mx + d];
  }
  const pad = (mx - mn) * 0.05;
  return [mn - pad, mx + pad];
}

/** The keys a picker lists: the union, sorted, `sys/` ones only when asked. */
export function pickerKeys(keys: Iterable<string>, withSys: boolean): string[] {
  const out = new Set<string>();
  for (const k of keys) if (withSys || !k.startsWith("sys/")) out.add(k);
  return [...out].sort();
}

/** The key a panel shows when the user chose none (or one the runs lack). */
export function defaultKey(panel: string, keys: string[]): string | null {
  const nonSys = keys.filter((k) => !k.startsWith("sys/"));
  const loss = nonSys.includes("loss") ? "loss" : (nonSys.find((k) => k.includes("loss")) ?? null);
  if (panel === "chartB") {
    if (nonSys.includes("lr")) return "lr";
    return nonSys.find((k) => k !== loss) ?? loss;
  }
  return loss ?? nonSys[0] ?? null;
}

/** The key to show: the remembered one when the runs have it (or nothing is known yet). */
export function chooseKey(panel: string, keys: string[], remembered: string | null): string {
  if (remembered && (keys.length === 0 || keys.includes(remembered))) return remembered;
  return defaultKey(panel, keys) ?? remembered ?? (panel === "chartB" ? "lr" : "loss");
}

