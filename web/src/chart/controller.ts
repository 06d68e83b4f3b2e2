// The chart engine behind ChartPanel: one uPlot instance (re-used: live updates go through
// setData, at most once per animation frame), the runs' bucket series, the live
// subscriptions, zoom/pan with finer reads, and the instrumentation attributes that the
// benchmarks and e2e tests read. React only renders the toolbar, legend shell and empty
// states; everything per-frame happens here, on the DOM directly.
import uPlot from "uplot";
import { ApiError, api, toNumber, type BucketColumns } from "../api/client";
import type { MessageOf } from "../live/socket";
import { live } from "../state/app";
import { logSplits } from "./controller-axes";
import { BucketSeries, buildData, lowerBound, yRange, type Axis, type BuiltData } from "./model";
import { fmtClock, fmtValue } from "../format";

export interface ChartStatus {
  /** Reading the first buckets. */
  loading: boolean;
  /** Buckets held, all runs. */
  points: number;
  /** Union of the runs' metric keys (REST + live). */
  keys: string[];
  zoomed: boolean;
  /** Why the last read failed (it is retried), or null. */
  error: string | null;
}

interface Zoom {
  min: number;
  max: number;
}

const READY_TIMEOUT_MS = 3000;
/** Waits before re-reading after a failed read: doubling from 1 s to 30 s. */
const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 30_000;
const ZOOM_DEBOUNCE_MS = 100;
const PAN_SETTLE_MS = 150;

function cssVar(el: Element, name: string, fallback: string): string {
  return getComputedStyle(el).getPropertyValue(name).trim() || fallback;
}

function withAlpha(color: string, alpha: number): string {
  const m = /^#([0-9a-f]{6})$/i.exec(color);
  if (!m) return color;
  const a = Math.round(alpha * 255)
    .toString(16)
    .padStart(2, "0");
  return `#${m[1]}${a}`;
}

function fmtX(axis: Axis, x: number): string {
  if (axis === "step") return `step ${Math.round(x)}`;
  return fmtClock(x);
}

export class ChartController {
  private u: uPlot | null = null;
  private signature = "";
  private runs: string[] = [];
  private key = "";
  private axis: Axis = "step";
  private smooth = 0;
  private log = false;
  private target = 1000;
  private full = new Map<string, BucketSeries>();
  private view = new Map<string, BucketSeries>(); // zoomed: full with finer buckets spliced in
  private buffered = new Map<string, Array<[number, number, number]>>();
  private keysByRun = new Map<string, Set<string>>();
  private subs = new Map<string, () => void>();
  private loading = false;
  private error: string | null = null;
  private retryMs = RETRY_MIN_MS;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private gen = 0;
  private loadAbort: AbortController | null = null;
  private zoom: Zoom | null = null;
  private zoomAbort: AbortController | null = null;
  private zoomTimer: ReturnType<typeof setTimeout> | null = null;
  private frame = 0;
  private pendingT0: number | null = null;
  private built: BuiltData | null = null;
  private colors: string[] = [];
  private bad = "#ff3b3b";
  private offLive: () => void;
  private ro: ResizeObserver | null = null;
  private panning: { x: number; zoom: Zoom } | null = null;
  private selecting: { x: number; rect: DOMRect } | null = null;
  // scratch columns for drawing (reused: no allocation per frame)
  private colX: number[] = [];
  private colTop: number[] = [];
  private colBot: number[] = [];
  private panFrame = 0;
  private panTo: Zoom | null = null;
  private lastStatus = "";
  private destroyed = false;

  constructor(
    private readonly root: HTMLElement,
    private readonly plotEl: HTMLElement,
    private readonly legendEl: HTMLElement,
    private readonly panel: string,
    private readonly onStatus: (s: ChartStatus) => void,
  ) {
    this.offLive = live.on("metric_update", (m) => this.onMetrics(m));
    if (typeof ResizeObserver !== "undefined") {
      this.ro = new ResizeObserver(() => this.resize());
      this.ro.observe(plotEl);
    }
    plotEl.addEventListener("mousedown", this.onMouseDown, true);
    plotEl.addEventListener("dblclick", this.onDblClick);
    this.target = this.widthTarget();
  }

  destroy(): void {
    this.destroyed = true;
    this.offLive();
    this.ro?.disconnect();
    this.plotEl.removeEventListener("mousedown", this.onMouseDown, true);
    this.plotEl.removeEventListener("dblclick", this.onDblClick);
    this.endPan();
    this.endSelect();
    for (const off of this.subs.values()) off();
    this.subs.clear();
    this.loadAbort?.abort();
    this.zoomAbort?.abort();
    if (this.zoomTimer) clearTimeout(this.zoomTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    cancelAnimationFrame(this.frame);
    cancelAnimationFrame(this.panFrame);
    this.u?.destroy();
    this.u = null;
  }

  // ---- configuration (from React) ------------------------------------------------------

  configure(c: { runs: string[]; key: string; axis: Axis; smooth: number; log: boolean }): void {
    const runsChanged = c.runs.join(",") !== this.runs.join(",");
    const keyChanged = c.key !== this.key;
    const axisChanged = c.axis !== this.axis;
    const smoothChanged = c.smooth !== this.smooth;
    const logChanged = c.log !== this.log;
    this.runs = [...c.runs];
    this.key = c.key;
    this.axis = c.axis;
    this.smooth = c.smooth;
    this.log = c.log;
    this.root.dataset.runs = this.runs.join(",");
    this.root.dataset.key = this.key;
    if (runsChanged) this.syncSubscriptions();
    if (runsChanged || keyChanged || axisChanged) {
      this.zoom = null;
      this.view.clear();
      void this.reload();
    } else if (smoothChanged || logChanged) {
      this.drawNow();
    }
  }

  resetZoom(): void {
    if (!this.zoom) return;
    this.zoom = null;
    this.zoomAbort?.abort();
    if (this.zoomTimer) clearTimeout(this.zoomTimer);
    this.view.clear();
    this.drawNow();
    this.emit();
  }

  /** Move the window by a fraction of its width (arrow keys). */
  panBy(frac: number): void {
    const z = this.currentWindow();
    if (!z) return;
    const d = (z.max - z.min) * frac;
    this.applyPan({ min: z.min + d, max: z.max + d });
    this.scheduleZoomFetch(PAN_SETTLE_MS);
  }

  // ---- subscriptions and reads ---------------------------------------------------------

  private syncSubscriptions(): void {
    for (const [id, off] of this.subs) {
      if (!this.runs.includes(id)) {
        off();
        this.subs.delete(id);
        this.keysByRun.delete(id);
      }
    }
    for (const id of this.runs) {
      if (this.subs.has(id)) continue;
      this.subs.set(id, live.subscribeRun(id));
      void this.readKeys(id);
    }
    this.emit();
  }

  private async readKeys(id: string): Promise<void> {
    try {
      const res = await api.get("/api/runs/{run_id}/metrics", { path: { run_id: id } });
      if (this.destroyed || !this.subs.has(id)) return;
      const set = this.keysByRun.get(id) ?? new Set<string>();
      for (const s of res.metrics) set.add(s.key);
      this.keysByRun.set(id, set);
      this.emit();
    } catch {
      /* a deleted run: no keys */
    }
  }

  private async reload(): Promise<void> {
    const gen = ++this.gen;
    this.loadAbort?.abort();
    this.zoomAbort?.abort();
    const abort = new AbortController();
    this.loadAbort = abort;
    this.loading = true;
    this.buffered = new Map(this.runs.map((r) => [r, []]));
    this.full.clear();
    this.emit();
    const runs = [...this.runs];
    const key = this.key;
    const axis = this.axis;
    this.target = this.widthTarget();
    if (!runs.length || !key) {
      this.loading = false;
      this.drawNow();
      this.emit();
      return;
    }
    // subscribe (done) → the server's ack → read REST → merge what was pushed meanwhile.
    // A socket that cannot connect yet must not keep the chart empty: read after a wait
    // anyway, and read again when the acks come (writes in between are in no cursor).
    const acked = Promise.all(runs.map((r) => live.ready({ run_id: r })));
    let timedOut = false;
    let waitTimer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      acked,
      new Promise<void>((r) => {
        waitTimer = setTimeout(() => {
          timedOut = true;
          r();
        }, READY_TIMEOUT_MS);
      }),
    ]);
    clearTimeout(waitTimer);
    if (gen !== this.gen) return;
    if (timedOut) {
      void acked.then(() => {
        if (gen === this.gen && !this.destroyed) void this.reload();
      });
    }
    let results: Map<string, BucketColumns | null>;
    try {
      results = await this.readBuckets(runs, key, axis, null, abort.signal);
    } catch (e) {
      if (gen !== this.gen || abort.signal.aborted || this.destroyed) return;
      // Keep "loading" (an empty chart would look like a short history) and try again.
      this.error = e instanceof Error ? e.message : String(e);
      this.emit();
      if (this.retryTimer) clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null;
        if (gen === this.gen && !this.destroyed) void this.reload();
      }, this.retryMs);
      this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs * 2);
      return;
    }
    if (gen !== this.gen || abort.signal.aborted) return;
    this.error = null;
    this.retryMs = RETRY_MIN_MS;
    runs.forEach((r) => {
      const s = BucketSeries.fromColumns(results.get(r), axis, this.target);
      for (const [step, time, v] of this.buffered.get(r) ?? []) s.append(step, time, v);
      this.full.set(r, s);
    });
    this.buffered.clear();
    this.loading = false;
    this.drawNow();
    this.emit();
  }

  /**
   * One compare read for all runs (a run without the key comes back empty, not as a 404:
   * the browser logs every failed request, and the page must stay free of console errors).
   */
  private async readBuckets(
    runs: string[],
    key: string,
    axis: Axis,
    win: Zoom | null,
    signal: AbortSignal,
  ): Promise<Map<string, BucketColumns | null>> {
    const out = new Map<string, BucketColumns | null>();
    const query: Record<string, string | number> = { key, run_ids: runs.join(","), n: this.target, x: axis };
    if (win) {
      if (axis === "step") {
        query.step_min = Math.floor(win.min);
        query.step_max = Math.ceil(win.max);
      } else {
        query.time_min = win.min;
        query.time_max = win.max;
      }
    }
    try {
      const res = await api.get("/api/metrics/compare", { query: query as never, signal });
      for (const r of res.runs) out.set(r.run_id, r.buckets);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404 && runs.length > 1) {
        // a run was deleted: read the others one by one
        for (const r of runs) {
          const one = await this.readBuckets([r], key, axis, win, signal).catch(() => null);
          out.set(r, one?.get(r) ?? null);
        }
      } else if (e instanceof ApiError && e.status === 404) {
        out.set(runs[0]!, null); // the one run is gone: nothing to draw
      } else {
        throw e; // the server is away or broke: the caller says so and retries
      }
    }
    return out;
  }

  // ---- live ----------------------------------------------------------------------------

  private onMetrics(m: MessageOf<"metric_update">): void {
    if (!this.subs.has(m.run_id)) return;
    let set = this.keysByRun.get(m.run_id);
    if (!set) this.keysByRun.set(m.run_id, (set = new Set()));
    let newKey = false;
    for (const k of Object.keys(m.points)) {
      if (!set.has(k)) {
        set.add(k);
        newKey = true;
      }
    }
    const pts = m.points[this.key];
    if (pts && pts.length) {
      if (this.loading) {
        const buf = this.buffered.get(m.run_id);
        if (buf) for (const [s, t, v] of pts) buf.push([s, t, toNum(v)]);
      } else {
        const full = this.full.get(m.run_id);
        const view = this.view.get(m.run_id);
        const wasEmpty = !full || full.length === 0;
        let visible = !this.zoom;
        if (full) {
          for (const [s, t, raw] of pts) {
            const v = toNum(raw);
            full.append(s, t, v);
            if (view) view.append(s, t, v);
            if (this.zoom) {
              const x = this.axis === "step" ? s : t;
              if (x >= this.zoom.min && x <= this.zoom.max) visible = true;
            }
          }
        }
        if (full && visible) this.scheduleDraw();
        if (full && wasEmpty && full.length) this.emit();
      }
    }
    if (newKey) this.emit();
  }

  private scheduleDraw(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.drawNow();
    });
  }

  // ---- drawing -------------------------------------------------------------------------

  private drawNow(): void {
    if (this.destroyed) return;
    if (this.frame) {
      cancelAnimationFrame(this.frame);
      this.frame = 0;
    }
    const t0 = performance.now();
    const runs = this.runs.map((r) => ({
      runId: r,
      series: this.view.get(r) ?? this.full.get(r) ?? new BucketSeries(this.axis),
    }));
    const built = buildData(runs, this.smooth, this.log);
    this.built = built;
    const data = this.frameData(built);
    const sig = `${this.runs.length}|${this.axis}|${this.log}`;
    this.pendingT0 = t0;
    if (!this.u || sig !== this.signature) {
      this.u?.destroy();
      this.signature = sig;
      this.u = this.create(data);
    } else {
      this.u.batch(() => {
        this.u!.setData(data, !this.zoom);
        if (this.zoom) this.u!.setScale("x", this.zoom);
      });
    }
    if (!built.points) this.finishDraw(); // uPlot does not draw without data
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
    const b = this.built;
    const el = this.root;
    el.dataset.drawMs = (performance.now() - t0).toFixed(1);
    el.dataset.points = String(b?.points ?? 0);
    if (b && b.lastStep >= 0) el.dataset.lastStep = String(b.lastStep);
    else delete el.dataset.lastStep;
    el.dataset.runs = this.runs.join(",");
    el.dataset.key = this.key;
    performance.mark(`td:chart-drawn:${this.panel}`);
    const left = this.u?.cursor.left ?? -1;
    this.updateLegend(this.u && left >= 0 ? this.u.posToVal(left, "x") : null);
  }

  private create(data: uPlot.AlignedData): uPlot {
    const el = this.root;
    const fg = cssVar(el, "--fg", "#ffb000");
    const grid = cssVar(el, "--chart-grid", "#222222");
    const border = cssVar(el, "--border", "#333333");
    const font = `11px ${cssVar(el, "--font", "monospace")}`;
    this.bad = cssVar(el, "--bad", this.bad);
    this.colors = this.runs.map((_, i) => cssVar(el, `--s${i % 10}`, fg));
    const series: uPlot.Series[] = [{}, { show: true, stroke: "transparent", points: { show: false } }];
    const axisOpts = {
      stroke: fg,
      font,
      grid: { stroke: grid, width: 1 },
      ticks: { stroke: border, width: 1, size: 4 },
    };
    const { width, height } = this.size();
    const opts: uPlot.Options = {
      width,
      height,
      pxAlign: 0,
      padding: [10, 16, 0, 0],
      legend: { show: false },
      scales: {
        x: { time: this.axis === "time" },
        y: { ...(this.log ? { distr: 3 } : {}), range: () => this.yScale() },
      },
      series,
      axes: [
        this.axis === "time"
          ? { ...axisOpts, size: 24, space: 70, values: (_u, vals) => vals.map((v) => fmtClock(v)) }
          : { ...axisOpts, size: 24, values: (_u, vals) => vals.map((v) => fmtValue(v)) },
        {
          ...axisOpts,
          size: 56,
          values: (_u, vals) => vals.map((v) => fmtValue(v)),
          // log scale: decades only (uPlot's 2..9 minors make a wall of lines)
          ...(this.log
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
        setCursor: [(u) => this.onCursor(u)],
      },
    };
    const u = new uPlot(opts, data, this.plotEl);
    if (this.zoom) u.setScale("x", this.zoom);
    return u;
  }

  /** The y range for the window shown (uPlot asks on every x change). */
  private yScale(): uPlot.Range.MinMax {
    const b = this.built;
    const z = this.zoom;
    const r = b && b.points ? yRange(b.runs, z ? z.min : b.xMin, z ? z.max : b.xMax, this.log) : null;
    return r ?? (this.log ? [0.1, 10] : [0, 1]);
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
    ctx.save();
    ctx.beginPath();
    ctx.rect(left, top, width, height);
    ctx.clip();
    ctx.lineJoin = "bevel";
    const px = (v: number) => u.valToPos(v, "x", true);
    const py = (v: number) => u.valToPos(v, "y", true);
    b.runs.forEach((r, ri) => {
      const n = r.x.length;
      if (!n) return;
      const a = Math.max(0, lowerBound(r.x, x0) - 1);
      const e = Math.min(n, lowerBound(r.x, x1) + 1);
      const color = this.colors[ri] ?? "#ffb000";
      ctx.fillStyle = withAlpha(color, 0.14);
      this.fillBand(ctx, r.x, r.lo, r.hi, a, e, px, py);
      if (r.raw) this.strokeLine(ctx, r.x, r.raw, a, e, px, py, withAlpha(color, 0.3), 1 * dpr);
      this.strokeLine(ctx, r.x, r.line, a, e, px, py, color, 1.25 * dpr);
    });
    ctx.restore();
  }

  /**
   * The min/max band: one polygon per stretch of buckets with finite values. Buckets that
   * fall in the same pixel column are combined exactly (highest max, lowest min), so the
   * cost follows the pixels, not the buckets.
   */
  private fillBand(
    ctx: CanvasRenderingContext2D,
    x: Float64Array,
    lo: Float64Array,
    hi: Float64Array,
    a: number,
    e: number,
    px: (v: number) => number,
    py: (v: number) => number,
  ): void {
    const cx = this.colX;
    const top = this.colTop;
    const bot = this.colBot;
    let n = 0;
    ctx.beginPath();
    const flush = () => {
      if (!n) return;
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
      const X = Math.round(px(x[i]!));
      const yh = py(h);
      const yl = py(l);
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
    ctx.fill();
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
    px: (v: number) => number,
    py: (v: number) => number,
    color: string,
    lw: number,
  ): void {
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
      const X = Math.round(px(x[i]!));
      const Y = py(v);
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
    if (!b) return;
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
        const px = u.valToPos(x, "x", true);
        if (px < left || px > left + width) continue;
        ctx.moveTo(px, top);
        ctx.lineTo(px - s, top + 1.6 * s);
        ctx.lineTo(px + s, top + 1.6 * s);
        ctx.closePath();
      }
      for (const x of mk.ninf) {
        const px = u.valToPos(x, "x", true);
        if (px < left || px > left + width) continue;
        ctx.moveTo(px, bottom);
        ctx.lineTo(px - s, bottom - 1.6 * s);
        ctx.lineTo(px + s, bottom - 1.6 * s);
        ctx.closePath();
      }
      ctx.fill();
      ctx.beginPath();
      for (const x of mk.nan) {
        const px = u.valToPos(x, "x", true);
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

  // ---- legend --------------------------------------------------------------------------

  private onCursor(u: uPlot): void {
    const left = u.cursor.left ?? -1;
    this.updateLegend(left >= 0 ? u.posToVal(left, "x") : null);
  }

  /** The value of each run at x (the cursor), or its last value. */
  private updateLegend(x: number | null): void {
    const xEl = this.legendEl.querySelector<HTMLElement>("[data-legend-x]");
    if (xEl) xEl.textContent = x === null ? "" : fmtX(this.axis, x);
    this.runs.forEach((r) => {
      const el = this.legendEl.querySelector<HTMLElement>(`[data-legend-run="${CSS.escape(r)}"] [data-legend-value]`);
      if (!el) return;
      const s = this.view.get(r) ?? this.full.get(r);
      if (!s || !s.length) {
        el.textContent = "—";
        return;
      }
      const i = x === null ? s.length - 1 : s.nearest(x);
      const nonFinite = s.nan[i]! + s.pinf[i]! + s.ninf[i]!;
      let text = x === null ? fmtValue(s.last[i]) : fmtValue(s.finiteCount(i) ? s.mean[i] : s.last[i]);
      if (x !== null && nonFinite) {
        const parts: string[] = [];
        if (s.nan[i]) parts.push(`NaN×${s.nan[i]}`);
        if (s.pinf[i]) parts.push(`+Inf×${s.pinf[i]}`);
        if (s.ninf[i]) parts.push(`-Inf×${s.ninf[i]}`);
        text += ` (${parts.join(" ")})`;
      }
      el.textContent = text;
      el.classList.toggle("bad", x === null ? !Number.isFinite(s.last[i]!) : nonFinite > 0);
    });
  }

  // ---- zoom and pan ---------------------------------------------------------------------

  private onDblClick = (): void => this.resetZoom();

  private currentWindow(): Zoom | null {
    if (this.zoom) return this.zoom;
    const sc = this.u?.scales.x;
    if (!sc || sc.min === undefined || sc.max === undefined || sc.min === null || sc.max === null) return null;
    return { min: sc.min, max: sc.max };
  }

  private applyPan(z: Zoom): void {
    this.zoom = z;
    this.u?.setScale("x", z);
    this.emit();
  }

  /**
   * Drag selects an x range to zoom into; shift+drag pans. Both follow the mouse on
   * window (so a drag may leave the plot), and uPlot's own drag is kept out.
   */
  private onMouseDown = (e: MouseEvent): void => {
    if (e.button !== 0 || !this.u) return;
    if (!e.shiftKey) {
      e.stopPropagation();
      const rect = this.u.over.getBoundingClientRect();
      this.selecting = { x: e.clientX - rect.left, rect };
      window.addEventListener("mousemove", this.onSelectMove);
      window.addEventListener("mouseup", this.onSelectUp);
      return;
    }
    const z = this.currentWindow();
    if (!z) return;
    e.stopPropagation();
    e.preventDefault();
    this.panning = { x: e.clientX, zoom: z };
    window.addEventListener("mousemove", this.onPanMove);
    window.addEventListener("mouseup", this.onPanUp);
  };

  private selectSpan(e: MouseEvent): { left: number; width: number } | null {
    const sel = this.selecting;
    if (!sel) return null;
    const x = Math.min(Math.max(e.clientX - sel.rect.left, 0), sel.rect.width);
    const a = Math.min(Math.max(sel.x, 0), sel.rect.width);
    return { left: Math.min(a, x), width: Math.abs(x - a) };
  }

  private onSelectMove = (e: MouseEvent): void => {
    const span = this.selectSpan(e);
    if (!span || !this.u) return;
    this.u.setSelect({ left: span.left, width: span.width, top: 0, height: this.u.over.clientHeight }, false);
  };

  private onSelectUp = (e: MouseEvent): void => {
    const span = this.selectSpan(e);
    this.endSelect();
    const u = this.u;
    if (!u || !span) return;
    u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
    if (span.width < 3) return;
    const min = u.posToVal(span.left, "x");
    const max = u.posToVal(span.left + span.width, "x");
    if (!(max > min)) return;
    this.zoom = { min, max };
    u.setScale("x", this.zoom);
    this.scheduleZoomFetch(ZOOM_DEBOUNCE_MS);
    this.emit();
  };

  private endSelect(): void {
    this.selecting = null;
    window.removeEventListener("mousemove", this.onSelectMove);
    window.removeEventListener("mouseup", this.onSelectUp);
  }

  private onPanMove = (e: MouseEvent): void => {
    const p = this.panning;
    if (!p || !this.u) return;
    const w = this.u.over.clientWidth || 1;
    const d = ((p.x - e.clientX) / w) * (p.zoom.max - p.zoom.min);
    this.panTo = { min: p.zoom.min + d, max: p.zoom.max + d };
    if (this.panFrame) return;
    this.panFrame = requestAnimationFrame(() => {
      this.panFrame = 0;
      if (this.panTo) this.applyPan(this.panTo); // draws what we hold; no read per frame
    });
  };

  private onPanUp = (): void => {
    this.endPan();
    this.scheduleZoomFetch(PAN_SETTLE_MS);
  };

  private endPan(): void {
    this.panning = null;
    window.removeEventListener("mousemove", this.onPanMove);
    window.removeEventListener("mouseup", this.onPanUp);
  }

  private scheduleZoomFetch(ms: number): void {
    if (this.zoomTimer) clearTimeout(this.zoomTimer);
    this.zoomTimer = setTimeout(() => {
      this.zoomTimer = null;
      void this.fetchZoom();
    }, ms);
  }

  private async fetchZoom(): Promise<void> {
    const z = this.zoom;
    if (!z || this.loading) return;
    this.zoomAbort?.abort();
    const abort = new AbortController();
    this.zoomAbort = abort;
    const runs = [...this.runs];
    const gen = this.gen;
    let results: Map<string, BucketColumns | null>;
    try {
      results = await this.readBuckets(runs, this.key, this.axis, z, abort.signal);
    } catch {
      return; // aborted, or the server is away: keep the coarser buckets already drawn
    }
    if (abort.signal.aborted || gen !== this.gen || this.zoom !== z) return;
    runs.forEach((r) => {
      const full = this.full.get(r);
      if (!full || !results.has(r)) return; // failed read: keep what is drawn
      const fine = BucketSeries.fromColumns(results.get(r), this.axis, this.target);
      const v = full.splice(fine, z.min, z.max);
      v.appendBucketsAfter(full); // points pushed while the read was in flight
      this.view.set(r, v);
    });
    this.drawNow();
  }

  // ---- size ----------------------------------------------------------------------------

  private size(): { width: number; height: number } {
    return {
      width: Math.max(50, Math.floor(this.plotEl.clientWidth)),
      height: Math.max(40, Math.floor(this.plotEl.clientHeight)),
    };
  }

  private widthTarget(): number {
    // about one bucket per pixel, but not fewer than 1,000: the server may answer a small n
    // with far fewer buckets (its rollup levels), and 1,000 per run draw in a few ms
    const w = this.plotEl.clientWidth * (globalThis.devicePixelRatio || 1);
    return Math.min(4000, Math.max(1000, Math.round(w)));
  }

  private resize(): void {
    if (!this.u) return;
    const { width, height } = this.size();
    if (width !== this.u.width || height !== this.u.height) this.u.setSize({ width, height });
  }

  // ---- status to React -----------------------------------------------------------------

  private emit(): void {
    if (this.destroyed) return;
    const keys = new Set<string>();
    for (const r of this.runs) for (const k of this.keysByRun.get(r) ?? []) keys.add(k);
    let points = 0;
    for (const s of this.full.values()) points += s.length;
    const status: ChartStatus = {
      loading: this.loading,
      points,
      keys: [...keys].sort(),
      zoomed: this.zoom !== null,
      error: this.error,
    };
    const sig = `${status.loading}|${points > 0}|${status.keys.join("\u0000")}|${status.zoomed}|${status.error}`;
    if (sig === this.lastStatus) return;
    this.lastStatus = sig;
    this.onStatus(status);
  }
}

function toNum(v: number | string): number {
  return toNumber(v) ?? Number.NaN;
}
