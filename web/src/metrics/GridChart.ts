// One chart of the metrics grid: the chart engine's pieces (feed: reads, live pushes and
// zoom reads; painter: uPlot and the bucket drawing; interaction: drag-zoom, shift-pan,
// double-click reset) joined for a grid cell. It reads nothing until it is first visible,
// draws only while visible (a live point on a hidden chart only marks it stale), draws
// live points in the grid's shared animation frame, and follows the grid's synchronized
// cursor and x window.
import { ChartPainter } from "../chart/draw";
import { ChartFeed, type FeedLive, type FeedReader, type Zoom } from "../chart/feed";
import { ChartInteraction } from "../chart/interaction";
import { fillLegend } from "../chart/legend";
import type { Axis, BuiltData } from "../chart/model";
import { axisTitles } from "../chart/units";
import type { FrameBatch } from "./frames";
import type { PlotSizes } from "./plot-sizes";
import type { GridSync, SyncMember } from "./sync";

export interface GridView {
  runs: string[];
  axis: Axis;
  smooth: number;
  log: boolean;
}

export interface GridEnv {
  live: FeedLive;
  reader: FeedReader;
  sync: GridSync;
  frames: FrameBatch;
  /** The theme's computed style, shared by the grid's charts. */
  style: () => CSSStyleDeclaration;
  /** The cells' plot sizes as last seen (measured together, kept by each chart's observer). */
  sizes: PlotSizes;
  /** The chart drew its first read, or that read failed. */
  settled?: (key: string) => void;
}

export interface CellElements {
  root: HTMLElement;
  plot: HTMLElement;
  legend: HTMLElement;
}

const SETTLE_MS = 150;
/** The compact painter's y axis with its title, in CSS pixels (draw.ts: 44 + 12). */
const Y_AXIS_PX = 56;

export class GridChart implements SyncMember {
  private readonly feed: ChartFeed;
  private readonly painter: ChartPainter;
  private readonly interaction: ChartInteraction;
  private readonly leave: () => void;
  private ro: ResizeObserver | null = null;
  private view: GridView;
  private zoom: Zoom | null = null;
  private visible = false;
  private stale = true;
  private settleTimer: ReturnType<typeof setTimeout> | null = null;
  private destroyed = false;
  /** When it was last visible (performance.now()), for evicting hidden charts. */
  lastSeen = 0;
  private readonly drawFn = () => this.drawNow();
  /** The mouse is over this chart: its cursor leads the grid's. */
  private hovered = false;
  private readonly onEnter = (): void => {
    this.hovered = true;
  };
  private readonly onLeave = (): void => {
    this.hovered = false;
    this.env.sync.moveCursor(this, null);
    this.legend(null);
  };

  constructor(
    private readonly key: string,
    private readonly els: CellElements,
    private readonly env: GridEnv,
    view: GridView,
  ) {
    this.view = { ...view, runs: [...view.runs] };
    this.feed = new ChartFeed(
      env.live,
      env.reader,
      {
        redraw: () => this.request(true),
        grew: () => this.request(false),
        status: () => this.status(),
      },
      () => this.bucketTarget(),
      { trackKeys: false }, // the grid's KeyIndex keeps the keys, once for all charts
    );
    this.painter = new ChartPainter(
      els.root,
      els.plot,
      {
        size: () => {
          const { width, height } = env.sizes.get(els.plot);
          return { width: Math.max(50, Math.floor(width)), height: Math.max(40, Math.floor(height)) };
        },
        drawn: (t0, built) => this.onDrawn(t0, built),
        cursor: (x) => {
          // only the chart under the mouse leads; uPlot also reports its cursor after a
          // redraw, which for a follower is the old pixel at a new x scale, not a move
          if (!this.hovered) return;
          this.legend(x);
          env.sync.moveCursor(this, x);
        },
      },
      { compact: true, style: env.style },
    );
    this.interaction = new ChartInteraction(els.plot, {
      plot: () => this.painter.plot,
      shown: () => this.painter.shownWindow(),
      show: (z) => {
        this.applyWindow(z);
        env.sync.setWindow(this, z);
      },
      reset: () => {
        this.applyWindow(null);
        env.sync.setWindow(this, null);
      },
      settled: () => void this.feed.readWindow(),
    });
    if (typeof ResizeObserver !== "undefined") {
      this.ro = new ResizeObserver((entries) => {
        const box = entries[entries.length - 1]?.contentRect;
        if (box) env.sizes.observed(els.plot, box);
        this.painter.resize();
      });
      this.ro.observe(els.plot);
    }
    els.plot.addEventListener("mouseenter", this.onEnter);
    els.plot.addEventListener("mouseleave", this.onLeave);
    els.root.dataset.state = "loading";
    this.leave = env.sync.join(this);
    this.feed.configure({ runs: this.view.runs, key, axis: this.view.axis });
  }

  destroy(): void {
    this.destroyed = true;
    this.els.plot.removeEventListener("mouseenter", this.onEnter);
    this.els.plot.removeEventListener("mouseleave", this.onLeave);
    if (this.hovered) this.env.sync.moveCursor(this, null);
    this.leave();
    this.env.frames.cancel(this.drawFn);
    if (this.settleTimer) clearTimeout(this.settleTimer);
    this.ro?.disconnect();
    this.env.sizes.unwatched(this.els.plot);
    this.interaction.destroy();
    this.feed.destroy();
    this.painter.destroy();
    const d = this.els.root.dataset;
    delete d.lastStep;
    delete d.points;
    delete d.drawMs;
    d.state = "idle";
  }

  /** Runs, axis, smoothing or scale changed (a change of runs or axis reads again). */
  configure(view: GridView): void {
    const reread = view.runs.join(",") !== this.view.runs.join(",") || view.axis !== this.view.axis;
    this.view = { ...view, runs: [...view.runs] };
    if (reread) {
      this.zoom = null;
      this.interaction.cancelSettle();
      this.feed.configure({ runs: this.view.runs, key: this.key, axis: this.view.axis });
    } else {
      this.request(true);
    }
  }

  /** Shown on screen or not: a hidden chart does not draw; shown again, it catches up. */
  setVisible(v: boolean): void {
    this.visible = v;
    this.lastSeen = performance.now();
    if (!v) {
      this.env.frames.cancel(this.drawFn);
      return;
    }
    if (this.stale) this.env.frames.draw(this.drawFn);
    if (this.zoom && this.settleTimer === null) void this.feed.readWindow();
  }

  get isVisible(): boolean {
    return this.visible;
  }

  // ---- the grid's synchronization ---------------------------------------------------------

  showCursor(x: number | null): void {
    if (!this.visible) return;
    this.painter.showCursor(x);
    this.legend(x);
  }

  showWindow(z: Zoom | null): void {
    this.applyWindow(z);
    if (!z) return;
    // read finer buckets once the window settles (and only while visible)
    if (this.settleTimer) clearTimeout(this.settleTimer);
    this.settleTimer = setTimeout(() => {
      this.settleTimer = null;
      if (this.visible && !this.destroyed) void this.feed.readWindow();
    }, SETTLE_MS);
  }

  private applyWindow(z: Zoom | null): void {
    this.zoom = z;
    this.feed.setWindow(z);
    if (z === null) this.interaction.cancelSettle();
    this.els.root.classList.toggle("td-mcell-zoomed", z !== null);
    if (!this.visible) {
      this.stale = true;
      return;
    }
    if (z && this.painter.plot) this.painter.setWindow(z);
    else this.drawNow();
  }

  // ---- drawing --------------------------------------------------------------------------

  /** New data: draw now (`now`: a read came in) or on the grid's next frame; later if hidden. */
  private request(now: boolean): void {
    if (this.destroyed) return;
    this.stale = true;
    if (!this.visible) return;
    if (now) this.drawNow();
    else this.env.frames.draw(this.drawFn);
  }

  private drawNow(): void {
    if (this.destroyed || !this.visible) return;
    // Nothing to draw before the first read is in: the cell says "…" (metrics.css), and
    // the uPlot is made with the data, not before it as an empty frame drawn once more
    // (on a grid's first screen that is ~30 draws while the server reads: docs/performance.md).
    if (this.feed.loading && !this.painter.plot) return;
    this.env.frames.cancel(this.drawFn);
    this.stale = false;
    const v = this.view;
    this.painter.draw({
      runs: v.runs,
      axis: v.axis,
      smooth: v.smooth,
      log: v.log,
      zoom: this.zoom,
      series: (r) => this.feed.series(r),
      titles: axisTitles(v.axis, this.key),
    });
  }

  private onDrawn(t0: number, b: BuiltData | null): void {
    const d = this.els.root.dataset;
    d.drawMs = (performance.now() - t0).toFixed(1);
    d.points = String(b?.points ?? 0);
    if (b && b.lastStep >= 0) d.lastStep = String(b.lastStep);
    else delete d.lastStep;
    if (!this.feed.loading) this.env.settled?.(this.key);
    if (this.hovered) {
      this.legend(this.painter.cursorX());
    } else {
      // a follower keeps the grid's cursor at its x value as the scale moves
      this.painter.showCursor(this.env.sync.cursor);
      this.legend(this.env.sync.cursor);
    }
  }

  private legend(x: number | null): void {
    fillLegend(this.els.legend, this.view.runs, this.view.axis, x, (r) => this.feed.series(r));
  }

  private status(): void {
    const d = this.els.root.dataset;
    d.state = this.feed.error ? "error" : this.feed.loading ? "loading" : this.feed.points() ? "ok" : "empty";
    if (this.feed.error) {
      d.error = this.feed.error;
      this.env.settled?.(this.key); // a read that failed must not hold the rest of the grid
    } else delete d.error;
  }

  /**
   * About one bucket per device pixel of the plotting area (the cell less its y axis and
   * title), within [100, 1000]: a small chart reads (and the server encodes) no more than
   * it can show.
   */
  private bucketTarget(): number {
    return gridBucketTarget(this.env.sizes.get(this.els.plot).width);
  }
}

/** The buckets per run a grid chart of a plot this wide reads (see bucketTarget). */
export function gridBucketTarget(plotWidth: number): number {
  const w = Math.max(0, plotWidth - Y_AXIS_PX) * (globalThis.devicePixelRatio || 1);
  return Math.min(1000, Math.max(100, Math.round(w)));
}
