// The metrics grid's engine, outside React: the cells register their elements; one
// IntersectionObserver tells which are on screen (with a margin, so charts are ready just
// before they scroll in); a chart is created for a cell when it first shows (spread over
// frames), draws only while shown, and charts hidden longest are dropped past a cap.
import { restReader, type FeedLive, type FeedReader, type Zoom } from "../chart/feed";
import { FrameBatch } from "./frames";
import { GridChart, type CellElements, type GridView } from "./GridChart";
import { KeyIndex } from "./keys";
import { GridSync } from "./sync";

/** Charts kept (with their data) at most; hidden ones beyond it are dropped. */
const MAX_CHARTS = 64;
/** Cells this far outside the scrolled view count as shown. */
const MARGIN = "150px 0px";

interface Cell {
  els: CellElements;
  chart: GridChart | null;
  shown: boolean;
  queued: boolean;
}

export class GridEngine {
  readonly sync = new GridSync();
  readonly keys: KeyIndex;
  private readonly frames = new FrameBatch();
  private readonly reader: FeedReader;
  private cells = new Map<string, Cell>();
  private byEl = new Map<Element, string>();
  private io: IntersectionObserver | null = null;
  private view: GridView = { runs: [], axis: "step", smooth: 0, log: false };
  private readonly leaveSync: () => void;

  constructor(
    private readonly live: FeedLive,
    keysChanged: () => void,
    private readonly windowChanged: (z: Zoom | null) => void,
  ) {
    this.keys = new KeyIndex(live, restReader, keysChanged);
    // the charts read their runs' keys through the index (one read per run, not per chart)
    this.reader = { keys: (id) => this.keys.keysOf(id), buckets: restReader.buckets };
    // the toolbar hears of every zoom and reset (to enable its reset button)
    this.leaveSync = this.sync.join({ showCursor: () => {}, showWindow: (z) => this.windowChanged(z) });
  }

  /** The scrolling element the cells live in (the IntersectionObserver's root). */
  observe(scroller: HTMLElement): void {
    this.io?.disconnect();
    if (typeof IntersectionObserver === "undefined") return;
    this.io = new IntersectionObserver((entries) => this.onIntersect(entries), { root: scroller, rootMargin: MARGIN });
    for (const c of this.cells.values()) this.io.observe(c.els.root);
  }

  destroy(): void {
    this.io?.disconnect();
    this.io = null;
    for (const c of this.cells.values()) c.chart?.destroy();
    this.cells.clear();
    this.byEl.clear();
    this.frames.destroy();
    this.keys.destroy();
    this.leaveSync();
  }

  configure(view: GridView): void {
    const reread = view.runs.join(",") !== this.view.runs.join(",") || view.axis !== this.view.axis;
    this.view = { ...view, runs: [...view.runs] };
    this.keys.configure(view.runs);
    if (reread) this.sync.setWindow(null, null);
    for (const c of this.cells.values()) c.chart?.configure(this.view);
  }

  /** A cell mounted; returns its unmount. */
  attach(key: string, els: CellElements): () => void {
    this.detach(key);
    const cell: Cell = { els, chart: null, shown: false, queued: false };
    this.cells.set(key, cell);
    this.byEl.set(els.root, key);
    this.io?.observe(els.root);
    if (!this.io && typeof IntersectionObserver === "undefined") this.show(key, cell, true);
    return () => {
      if (this.cells.get(key) === cell) this.detach(key);
    };
  }

  resetZoom(): void {
    this.sync.setWindow(null, null);
  }

  /** Charts that exist now (for tests and the benchmark). */
  get chartCount(): number {
    let n = 0;
    for (const c of this.cells.values()) if (c.chart) n++;
    return n;
  }

  private detach(key: string): void {
    const c = this.cells.get(key);
    if (!c) return;
    this.io?.unobserve(c.els.root);
    this.byEl.delete(c.els.root);
    c.chart?.destroy();
    this.cells.delete(key);
  }

  private onIntersect(entries: IntersectionObserverEntry[]): void {
    for (const e of entries) {
      const key = this.byEl.get(e.target);
      const cell = key === undefined ? undefined : this.cells.get(key);
      if (key === undefined || !cell) continue;
      this.show(key, cell, e.isIntersecting);
    }
    this.evict();
  }

  private show(key: string, cell: Cell, shown: boolean): void {
    cell.shown = shown;
    if (cell.chart) {
      cell.chart.setVisible(shown);
      return;
    }
    if (!shown || cell.queued) return;
    cell.queued = true;
    // creating a chart (uPlot, a read) is spread over frames: scrolling stays smooth
    this.frames.later(() => {
      cell.queued = false;
      if (this.cells.get(key) !== cell || cell.chart || !cell.shown) return;
      cell.chart = new GridChart(key, cell.els, { live: this.live, reader: this.reader, sync: this.sync, frames: this.frames }, this.view);
      cell.chart.setVisible(true);
    });
  }

  /** Past the cap, drop the charts hidden longest (their data is read again if they show). */
  private evict(): void {
    const hidden: Array<[string, Cell]> = [];
    let count = 0;
    for (const [k, c] of this.cells) {
      if (!c.chart) continue;
      count++;
      if (!c.shown) hidden.push([k, c]);
    }
    if (count <= MAX_CHARTS) return;
    hidden.sort((a, b) => a[1].chart!.lastSeen - b[1].chart!.lastSeen);
    for (const [, c] of hidden.slice(0, count - MAX_CHARTS)) {
      c.chart!.destroy();
      c.chart = null;
    }
  }
}
