// The chart engine behind ChartPanel, in three parts joined here: the data feed (feed.ts:
// REST reads, live pushes, zoom reads), the drawing (draw.ts: one uPlot re-used, live
// updates at most once per animation frame) and the interaction (interaction.ts: zoom,
// pan). This file keeps the legend, the size, the instrumentation attributes that the
// benchmarks and e2e tests read, and the status React shows. React only renders the
// toolbar, legend shell and empty states; everything per-frame happens on the DOM directly.
import { chartReadDone, chartReadStarted, live } from "../state/app";
import { ChartPainter } from "./draw";
import { ChartFeed, restReader, type Zoom } from "./feed";
import { ChartInteraction } from "./interaction";
import { fillLegend } from "./legend";
import type { Axis, BuiltData } from "./model";
import { axisTitles } from "./units";

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

export class ChartController {
  private runs: string[] = [];
  private key = "";
  private axis: Axis = "step";
  private smooth = 0;
  private log = false;
  private zoom: Zoom | null = null;
  private readonly feed: ChartFeed;
  private readonly painter: ChartPainter;
  private readonly interaction: ChartInteraction;
  private ro: ResizeObserver | null = null;
  private frame = 0;
  private lastStatus = "";
  private destroyed = false;
  /** The first read of runs (the other panels wait for it: state/app afterFirstChart). */
  private firstRead: "none" | "reading" | "done" = "none";

  constructor(
    private readonly root: HTMLElement,
    private readonly plotEl: HTMLElement,
    private readonly legendEl: HTMLElement,
    private readonly panel: string,
    private readonly onStatus: (s: ChartStatus) => void,
  ) {
    this.feed = new ChartFeed(
      live,
      restReader,
      {
        redraw: () => this.drawNow(),
        grew: () => this.scheduleDraw(),
        status: () => this.emit(),
      },
      () => this.widthTarget(),
    );
    this.painter = new ChartPainter(root, plotEl, {
      size: () => this.size(),
      drawn: (t0, built) => this.onDrawn(t0, built),
      cursor: (x) => this.updateLegend(x),
    });
    this.interaction = new ChartInteraction(plotEl, {
      plot: () => this.painter.plot,
      shown: () => this.painter.shownWindow(),
      show: (z) => this.setZoom(z),
      reset: () => this.resetZoom(),
      settled: () => void this.feed.readWindow(),
    });
    if (typeof ResizeObserver !== "undefined") {
      this.ro = new ResizeObserver(() => this.painter.resize());
      this.ro.observe(plotEl);
    }
  }

  destroy(): void {
    this.destroyed = true;
    if (this.firstRead === "reading") this.firstReadDone();
    this.ro?.disconnect();
    this.interaction.destroy();
    this.feed.destroy();
    cancelAnimationFrame(this.frame);
    this.painter.destroy();
  }

  // ---- configuration (from React) ------------------------------------------------------

  configure(c: { runs: string[]; key: string; axis: Axis; smooth: number; log: boolean }): void {
    const reread = c.runs.join(",") !== this.runs.join(",") || c.key !== this.key || c.axis !== this.axis;
    const smoothChanged = c.smooth !== this.smooth;
    const logChanged = c.log !== this.log;
    this.runs = [...c.runs];
    this.key = c.key;
    this.axis = c.axis;
    this.smooth = c.smooth;
    this.log = c.log;
    this.root.dataset.runs = this.runs.join(",");
    this.root.dataset.key = this.key;
    if (reread) {
      this.zoom = null; // the feed drops its window too and reads everything again
      this.interaction.cancelSettle();
    }
    if (this.firstRead === "none" && this.runs.length && this.key) {
      this.firstRead = "reading";
      chartReadStarted();
    }
    this.feed.configure({ runs: this.runs, key: this.key, axis: this.axis });
    // Other runs or another key: draw the empty chart of their shape now (the old runs'
    // lines are not theirs), so that uPlot is made while the read is in flight; the data
    // then lands in it with setData, drawn in the same task, instead of in a new instance
    // drawn a microtask later (after whatever else the answer woke up: chart B's series).
    if (reread || smoothChanged || logChanged) this.drawNow();
  }

  resetZoom(): void {
    if (!this.zoom) return;
    this.zoom = null;
    this.interaction.cancelSettle();
    this.feed.setWindow(null);
    this.drawNow();
    this.emit();
  }

  /** Move the window by a fraction of its width (arrow keys). */
  panBy(frac: number): void {
    this.interaction.panBy(frac);
  }

  private setZoom(z: Zoom): void {
    this.zoom = z;
    this.feed.setWindow(z);
    this.painter.setWindow(z);
    this.emit();
  }

  // ---- drawing -------------------------------------------------------------------------

  private scheduleDraw(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.drawNow();
    });
  }

  private drawNow(): void {
    if (this.destroyed) return;
    if (this.frame) {
      cancelAnimationFrame(this.frame);
      this.frame = 0;
    }
    this.painter.draw({
      runs: this.runs,
      axis: this.axis,
      smooth: this.smooth,
      log: this.log,
      zoom: this.zoom,
      series: (r) => this.feed.series(r),
      titles: axisTitles(this.axis, this.key),
    });
  }

  /** A frame is on screen: the attributes benchmarks and tests read, and the legend. */
  private onDrawn(t0: number, b: BuiltData | null): void {
    const el = this.root;
    el.dataset.drawMs = (performance.now() - t0).toFixed(1);
    el.dataset.points = String(b?.points ?? 0);
    if (b && b.lastStep >= 0) el.dataset.lastStep = String(b.lastStep);
    else delete el.dataset.lastStep;
    el.dataset.runs = this.runs.join(",");
    el.dataset.key = this.key;
    performance.mark(`td:chart-drawn:${this.panel}`);
    if (this.firstRead === "reading" && !this.feed.loading) this.firstReadDone();
    this.updateLegend(this.painter.cursorX());
  }

  private firstReadDone(): void {
    this.firstRead = "done";
    chartReadDone();
  }

  // ---- legend --------------------------------------------------------------------------

  /** The value of each run at x (the cursor), or its last value. */
  private updateLegend(x: number | null): void {
    fillLegend(this.legendEl, this.runs, this.axis, x, (r) => this.feed.series(r));
  }

  // ---- size ----------------------------------------------------------------------------

  private size(): { width: number; height: number } {
    return {
      width: Math.max(50, Math.floor(this.plotEl.clientWidth)),
      height: Math.max(40, Math.floor(this.plotEl.clientHeight)),
    };
  }

  /** About how many buckets per run the chart reads (its plot's width in device pixels). */
  bucketTarget(): number {
    return this.widthTarget();
  }

  private widthTarget(): number {
    // about one bucket per pixel, but not fewer than 1,000: the server may answer a small n
    // with far fewer buckets (its rollup levels), and 1,000 per run draw in a few ms
    const w = this.plotEl.clientWidth * (globalThis.devicePixelRatio || 1);
    return Math.min(4000, Math.max(1000, Math.round(w)));
  }

  // ---- status to React -----------------------------------------------------------------

  private emit(): void {
    if (this.destroyed) return;
    const status: ChartStatus = {
      loading: this.feed.loading,
      points: this.feed.points(),
      keys: this.feed.keys(),
      zoomed: this.zoom !== null,
      error: this.feed.error,
    };
    const sig = `${status.loading}|${status.points > 0}|${status.keys.join("\u0000")}|${status.zoomed}|${status.error}`;
    if (sig === this.lastStatus) return;
    this.lastStatus = sig;
    this.onStatus(status);
  }
}
