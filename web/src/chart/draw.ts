// The chart's drawing: one uPlot instance (kept across updates: new data goes through
// setData) for the scales, axes, cursor and selection, and the runs' buckets drawn on its
// canvas directly (min/max band, mean line, NaN/±Inf marks), at a cost that follows the
// pixels, not the buckets. What to draw comes in as a DrawInput; the host is told when a
// frame is on screen and where the cursor is.
import uPlot from "uplot";
import { fmtClock, fmtValue } from "../format";
import { logSplits } from "./controller-axes";
import type { Zoom } from "./feed";
import { BucketSeries, bandAlpha, buildData, lowerBound, newBuildCache, yRange, type Axis, type BuiltData } from "./model";
import { affine, columnSpans, toPx, type Affine } from "./pixels";

export interface DrawInput {
  runs: string[];
  axis: Axis;
  smooth: number;
  log: boolean;
  /** The x window shown, or null for everything. */
  zoom: Zoom | null;
  /** The series of a run (undefined: nothing yet). */
  series: (runId: string) => BucketSeries | undefined;
  /** Axis titles (x: "step"/"time", y: the key and its unit); none when absent. */
  titles?: { x: string; y: string };
}

/** How a painter looks: full size (a chart panel) or compact (a cell of the metrics grid). */
export interface PainterOptions {
  compact?: boolean;
  /**
   * Where the theme's colours are read (computed style with the `--fg`, `--s0`… custom
   * properties); by default the root's own, read at each (re)creation. A grid of charts
   * passes one cached for all, sparing a style recalculation per chart.
   */
  style?: () => CSSStyleDeclaration;
}

export interface PainterHost {
  /** The plot's size in CSS pixels. */
  size(): { width: number; height: number };
  /** A frame is on screen: `t0` is when its drawing started (performance.now()). */
  drawn(t0: number, built: BuiltData | null): void;
  /** The cursor moved: its x value, or null when it left the plot. */
  cursor(x: number | null): void;
}

function cssVar(cs: CSSStyleDeclaration, name: string, fallback: string): string {
  return cs.getPropertyValue(name).trim() || fallback;
}

function withAlpha(color: string, alpha: number): string {
  const m = /^#([0-9a-f]{6})$/i.exec(color);
  if (!m) return color;
  const a = Math.round(alpha * 255)
    .toString(16)
    .padStart(2, "0");
  return `#${m[1]}${a}`;
}

export class ChartPainter {
  private u: uPlot | null = null;
  private signature = "";
  private built: BuiltData | null = null;
  /** The runs' arrays as last drawn: a live point rebuilds a run's from its last bucket. */
  private readonly builds = newBuildCache();
  private input: DrawInput = { runs: [], axis: "step", smooth: 0, log: false, zoom: null, series: () => undefined };
  private pendingT0: number | null = null;
  private colors: string[] = [];
  private bad = "#ff3b3b";
  // scratch columns for drawing (reused: no allocation per frame)
  private colX: number[] = [];
  private colTop: number[] = [];
  private colBot: number[] = [];

  constructor(
    private readonly root: HTMLElement,
    private readonly plotEl: HTMLElement,
    private readonly host: PainterHost,
    private readonly opts: PainterOptions = {},
  ) {}

  /** The uPlot instance (null before the first draw): scales, cursor, selection, overlay. */
  get plot(): uPlot | null {
    return this.u;
  }

  destroy(): void {
    this.u?.destroy();
    this.u = null;
  }

  /** Draw now: rebuild the runs' draw data, re-create uPlot only when its shape changed. */
  draw(input: DrawInput): void {
    const t0 = performance.now();
    this.input = input;
    const runs = input.runs.map((r) => ({
      runId: r,
      series: input.series(r) ?? new BucketSeries(input.axis),
    }));
    const built = buildData(runs, input.smooth, input.log, this.builds);
    this.built = built;
    const data = this.frameData(built);
    const sig = `${input.runs.length}|${input.axis}|${input.log}|${input.titles?.x ?? ""}|${input.titles?.y ?? ""}`;
    this.pendingT0 = t0;
    if (!this.u || sig !== this.signature) {
      this.u?.destroy();
      this.signature = sig;
      this.u = this.create(data);
    } else {
      const u = this.u;
      u.batch(() => {
        u.setData(data, !input.zoom);
        if (input.zoom) u.setScale("x", input.zoom);
      });
    }
    if (!built.points) this.finishDraw(); // uPlot does not draw without data
  }

  /** Show another x window (drawing what is held). */
  setWindow(z: Zoom): void {
    this.input = { ...this.input, zoom: z };
    this.u?.setScale("x", z);
  }

  /** The x window shown (the zoom, else uPlot's auto range), or null before a draw. */
  shownWindow(): Zoom | null {
    if (this.input.zoom) return this.input.zoom;
    const sc = this.u?.scales.x;
    if (!sc || sc.min === undefined || sc.max === undefined || sc.min === null || sc.max === null) return null;
    return { min: sc.min, max: sc.max };
  }

  /**
   * Put the cursor at x (a cursor synchronized from another chart), or hide it (null);
   * the host's cursor() is not called back.
   */
  showCursor(x: number | null): void {
    const u = this.u;
    if (!u) return;
    const left = x === null ? -10 : u.valToPos(x, "x");
    const inside = x !== null && left >= 0 && left <= u.over.clientWidth;
    u.setCursor({ left: inside ? left : -10, top: inside ? u.over.clientHeight / 2 : -10 }, false);
  }

  /** The x value under the cursor, or null when it is outside the plot. */
  cursorX(u: uPlot | null = this.u): number | null {
    const left = u?.cursor.left ?? -1;
    return u && left >= 0 ? u.posToVal(left, "x") : null;
  }

  resize(): void {
    if (!this.u) return;
    const { width, height } = this.host.size();
    if (width !== this.u.width || height !== this.u.height) this.u.setSize({ width, height });
  }

  /**
   * uPlot only keeps the scales, axes, cursor and selection: its data is the x extent and
   * a hidden series; the runs' buckets are drawn by drawRuns (each run on its own x, no
   * join of the runs onto one x array, which costs far more with many runs).
   */
  private frameData(b: BuiltData): uPlot.AlignedData {
    if (!b.points) return [[], []];
    const x1 = b.xMax > b.xMin ? b.xMax : b.xMin + 1;
    return [
      [b.xMin, x1],
      [null, null],
    ];
  }

  private finishDraw(): void {
    const t0 = this.pendingT0;
    if (t0 === null) return;
    this.pendingT0 = null;
    this.host.drawn(t0, this.built);
  }

  private create(data: uPlot.AlignedData): uPlot {
    const el = this.opts.style ? this.opts.style() : getComputedStyle(this.root);
    const fg = cssVar(el, "--fg", "#ffb000");
    const grid = cssVar(el, "--chart-grid", "#222222");
    const border = cssVar(el, "--border", "#333333");
    const compact = this.opts.compact === true;
    const font = `${compact ? 10 : 11}px ${cssVar(el, "--font", "monospace")}`;
    const titles = this.input.titles;
    this.bad = cssVar(el, "--bad", this.bad);
    this.colors = this.input.runs.map((_, i) => cssVar(el, `--s${i % 10}`, fg));
    const series: uPlot.Series[] = [{}, { show: true, stroke: "transparent", points: { show: false } }];
    const axisOpts = {
      stroke: fg,
      font,
      labelFont: font,
      grid: { stroke: grid, width: 1 },
      ticks: { stroke: border, width: 1, size: compact ? 3 : 4 },
    };
    // axis titles: x says step or time, y the key and its unit (when the key tells one)
    const xTitle = titles ? { label: titles.x, labelSize: compact ? 12 : 14, labelGap: 0 } : {};
    const yTitle = titles ? { label: titles.y, labelSize: compact ? 12 : 14, labelGap: 0 } : {};
    const { width, height } = this.host.size();
    const opts: uPlot.Options = {
      width,
      height,
      pxAlign: 0,
      padding: compact ? [6, 8, 0, 0] : [10, 16, 0, 0],
      legend: { show: false },
      scales: {
        x: { time: this.input.axis === "time" },
        y: { ...(this.input.log ? { distr: 3 } : {}), range: () => this.yScale() },
      },
      series,
      axes: [
        this.input.axis === "time"
          ? { ...axisOpts, ...xTitle, size: compact ? 18 : 24, space: 70, values: (_u, vals) => vals.map((v) => fmtClock(v)) }
          : { ...axisOpts, ...xTitle, size: compact ? 18 : 24, space: compact ? 50 : 40, values: (_u, vals) => vals.map((v) => fmtValue(v)) },
        {
          ...axisOpts,
          ...yTitle,
          size: compact ? 44 : 56,
          space: compact ? 20 : 30,
          values: (_u, vals) => vals.map((v) => fmtValue(v)),
          // log scale: decades only (uPlot's 2..9 minors make a wall of lines)
          ...(this.input.log
            ? { splits: (_u: uPlot, _i: number, min: number, max: number) => logSplits(min, max) }
            : {}),
        },
      ],
      cursor: {
        drag: { x: false, y: false, setScale: false }, // ours: see onMouseDown
        points: { show: false },
        bind: { dblclick: () => null },
      },
      hooks: {
        draw: [(u) => this.drawRuns(u), (u) => this.drawMarks(u), () => this.finishDraw()],
        setCursor: [(u) => this.host.cursor(this.cursorX(u))],
      },
    };
    const u = new uPlot(opts, data, this.plotEl);
    if (this.input.zoom) u.setScale("x", this.input.zoom);
    return u;
  }

  /** The y range for the window shown (uPlot asks on every x change). */
  private yScale(): uPlot.Range.MinMax {
    const b = this.built;
    const z = this.input.zoom;
    const log = this.input.log;
    const r = b && b.points ? yRange(b.runs, z ? z.min : b.xMin, z ? z.max : b.xMax, log) : null;
    return r ?? (log ? [0.1, 10] : [0, 1]);
  }

  /** Per run: the min/max band, the raw mean (faint, when smoothing), the line; only the visible buckets. */
  private drawRuns(u: uPlot): void {
    const b = this.built;
    if (!b || !b.points) return;
    const ctx = u.ctx;
    const { left, top, width, height } = u.bbox;
    const xs = u.scales.x;
    const x0 = xs?.min ?? b.xMin;
    const x1 = xs?.max ?? b.xMax;
    const dpr = uPlot.pxRatio;
    // A grid cell's line is one CSS pixel: at a pixel ratio of 1 a hairline, which the
    // canvas rasterizes at about half the cost of a wider stroke, for 30 charts redrawn
    // at every live step (docs/performance.md); a chart panel's is a little heavier.
    const compact = this.opts.compact === true;
    const lineWidth = (compact ? 1 : 1.25) * dpr;
    ctx.save();
    ctx.beginPath();
    ctx.rect(left, top, width, height);
    ctx.clip();
    ctx.lineJoin = "bevel";
    const tx = affine(u, "x", false);
    const ty = affine(u, "y", this.input.log);
    if (tx && ty) {
      b.runs.forEach((r, ri) => {
        const n = r.x.length;
        if (!n) return;
        const a = Math.max(0, lowerBound(r.x, x0) - 1);
        const e = Math.min(n, lowerBound(r.x, x1) + 1);
        const color = this.colors[ri] ?? "#ffb000";
        this.fillBand(ctx, r.x, r.lo, r.hi, a, e, tx, ty, color, height, compact);
        if (r.raw) this.strokeLine(ctx, r.x, r.raw, a, e, tx, ty, withAlpha(color, 0.3), 1 * dpr);
        this.strokeLine(ctx, r.x, r.line, a, e, tx, ty, color, lineWidth);
      });
    }
    ctx.restore();
  }

  /**
   * The min/max band: one polygon per stretch of buckets with finite values. Buckets that
   * fall in the same pixel column are combined exactly (highest max, lowest min), so the
   * cost follows the pixels, not the buckets.
   *
   * `columns` (a grid cell): each device-pixel column's span instead, one vertical
   * hairline from its highest max to its lowest min (columns between two buckets take the
   * spans in between, as the polygon would cover them). The same pixels up to the edges'
   * antialiasing, at about half the rasterizing cost of a polygon's antialiased edges.
   */
  private fillBand(
    ctx: CanvasRenderingContext2D,
    x: Float64Array,
    lo: Float64Array,
    hi: Float64Array,
    a: number,
    e: number,
    tx: Affine,
    ty: Affine,
    color: string,
    plotHeight: number,
    columns: boolean,
  ): void {
    const { a: ax, b: bx } = tx;
    const { a: ay, b: by, log } = ty;
    const cx = this.colX;
    let spans = 0; // summed band height (px) of the columns, for its opacity
    let cols = 0;
    const top = this.colTop;
    const bot = this.colBot;
    let n = 0;
    ctx.beginPath();
    const flush = () => {
      if (!n) return;
      for (let k = 0; k < n; k++) spans += bot[k]! - top[k]!;
      cols += n;
      if (columns) {
        columnSpans(ctx, cx, top, bot, n);
        n = 0;
        return;
      }
      ctx.moveTo(cx[0]!, top[0]!);
      for (let k = 1; k < n; k++) ctx.lineTo(cx[k]!, top[k]!);
      for (let k = n - 1; k >= 0; k--) ctx.lineTo(cx[k]!, bot[k]!);
      ctx.closePath();
      n = 0;
    };
    for (let i = a; i < e; i++) {
      const l = lo[i]!;
      const h = hi[i]!;
      if (l !== l || h !== h) {
        flush();
        continue;
      }
      const X = Math.round(ax + bx * x[i]!);
      const yh = ay + by * (log ? Math.log10(h) : h);
      const yl = ay + by * (log ? Math.log10(l) : l);
      if (n && cx[n - 1] === X) {
        if (yh < top[n - 1]!) top[n - 1] = yh;
        if (yl > bot[n - 1]!) bot[n - 1] = yl;
      } else {
        cx[n] = X;
        top[n] = yh;
        bot[n] = yl;
        n++;
      }
    }
    flush();
    const fill = withAlpha(color, bandAlpha(log, cols ? spans / cols : 0, plotHeight));
    if (columns) {
      ctx.strokeStyle = fill;
      ctx.lineWidth = 1;
      ctx.stroke();
    } else {
      ctx.fillStyle = fill;
      ctx.fill();
    }
  }

  /**
   * A polyline through the finite values (a bucket without one breaks it). Per pixel
   * column it draws first, lowest, highest and last point (M4), which looks the same as
   * every bucket at a cost that follows the pixels.
   */
  private strokeLine(
    ctx: CanvasRenderingContext2D,
    x: Float64Array,
    y: Float64Array,
    a: number,
    e: number,
    tx: Affine,
    ty: Affine,
    color: string,
    lw: number,
  ): void {
    const { a: ax, b: bx } = tx;
    const { a: ay, b: by, log } = ty;
    ctx.strokeStyle = color;
    ctx.fillStyle = color;
    ctx.lineWidth = lw;
    ctx.beginPath();
    let col = Number.NaN;
    let first = 0;
    let last = 0;
    let mn = 0;
    let mx = 0;
    let cols = 0; // columns drawn in the current stretch
    let pts = 0; // points in the current column
    const flushCol = () => {
      if (col !== col) return;
      if (cols === 0) ctx.moveTo(col, first);
      else ctx.lineTo(col, first);
      if (mn < first || mx > first) {
        ctx.lineTo(col, mn);
        ctx.lineTo(col, mx);
      }
      if (pts > 1) ctx.lineTo(col, last);
      cols++;
    };
    const breakLine = () => {
      flushCol();
      if (cols === 1 && pts === 1) ctx.fillRect(col - lw, last - lw, 2 * lw, 2 * lw); // a lone point
      col = Number.NaN;
      cols = 0;
      pts = 0;
    };
    for (let i = a; i < e; i++) {
      const v = y[i]!;
      if (v !== v) {
        breakLine();
        continue;
      }
      const X = Math.round(ax + bx * x[i]!);
      const Y = ay + by * (log ? Math.log10(v) : v);
      if (X === col) {
        last = Y;
        if (Y < mn) mn = Y;
        if (Y > mx) mx = Y;
        pts++;
      } else {
        flushCol();
        col = X;
        first = last = mn = mx = Y;
        pts = 1;
      }
    }
    breakLine();
    ctx.stroke();
  }

  /** NaN / ±Inf buckets as marks: ▲ at the top for +Inf, ▼ at the bottom for -Inf, × on the axis for NaN. */
  private drawMarks(u: uPlot): void {
    const b = this.built;
    const tx = affine(u, "x", false);
    if (!b || !tx) return;
    const ctx = u.ctx;
    const { left, top, width, height } = u.bbox;
    const dpr = uPlot.pxRatio;
    const s = 4 * dpr;
    ctx.save();
    ctx.lineWidth = 1.5 * dpr;
    ctx.strokeStyle = this.bad;
    ctx.fillStyle = this.bad;
    const bottom = top + height;
    for (const mk of b.runs) {
      ctx.beginPath();
      for (const x of mk.pinf) {
        const px = toPx(tx, x);
        if (px < left || px > left + width) continue;
        ctx.moveTo(px, top);
        ctx.lineTo(px - s, top + 1.6 * s);
        ctx.lineTo(px + s, top + 1.6 * s);
        ctx.closePath();
      }
      for (const x of mk.ninf) {
        const px = toPx(tx, x);
        if (px < left || px > left + width) continue;
        ctx.moveTo(px, bottom);
        ctx.lineTo(px - s, bottom - 1.6 * s);
        ctx.lineTo(px + s, bottom - 1.6 * s);
        ctx.closePath();
      }
      ctx.fill();
      ctx.beginPath();
      for (const x of mk.nan) {
        const px = toPx(tx, x);
        if (px < left || px > left + width) continue;
        const y = bottom - s - 2 * dpr;
        ctx.moveTo(px - s, y - s);
        ctx.lineTo(px + s, y + s);
        ctx.moveTo(px + s, y - s);
        ctx.lineTo(px - s, y + s);
      }
      ctx.stroke();
    }
    ctx.restore();
  }
}
