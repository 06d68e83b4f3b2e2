// The metrics grid's engine, outside React: the cells register their elements; one
// IntersectionObserver tells which are on screen (with a margin, so charts are ready just
// before they scroll in); a chart is created for a cell when it first shows (spread over
// frames), draws only while shown, and charts hidden longest are dropped past a cap.
import { restReader, type FeedLive, type FeedReader, type Zoom } from "../chart/feed";
import { BucketBatch } from "./batch";
import { FirstScreen } from "./first-screen";
import { FrameBatch } from "./frames";
import { GridChart, gridBucketTarget, type CellElements, type GridView } from "./GridChart";
import { PlotSizes } from "./plot-sizes";
import { Prefetch } from "./prefetch";
import { KeyIndex, restKeysMany } from "./keys";
import { GridSync } from "./sync";
import { sidePanelsNow } from "../state/app";

/** Charts kept (with their data) at most; hidden ones beyond it are dropped. */
const MAX_CHARTS = 64;
/** Cells this far outside the scrolled view count as shown. */
export const MARGIN_PX = 150;
const MARGIN = `${MARGIN_PX}px 0px`;
/** While the grid scrolls faster than this (px per ms, over the last FLING_WINDOW_MS), new charts wait for it to slow. */
const FLING_PX_PER_MS = 0.25;
const FLING_WINDOW_MS = 200;
/** How often a deferred creation looks again whether the scrolling slowed. */
const FLING_RECHECK_MS = 120;

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
  private readonly batch = new BucketBatch();
  private readonly sizes = new PlotSizes();
  /** The first reads of the cells that came into view, sent before their charts exist. */
  private readonly prefetch: Prefetch;
  /** Each run's newest step per key when the server acknowledged its subscription. */
  private ackedSteps = new Map<string, Record<string, number>>();
  private readonly reader: FeedReader;
  private cells = new Map<string, Cell>();
  private byEl = new Map<Element, string>();
  private io: IntersectionObserver | null = null;
  private scroller: HTMLElement | null = null;
  private style: CSSStyleDeclaration | null = null;
  private scrolls: Array<{ top: number; t: number }> = [];
  private recheck: ReturnType<typeof setTimeout> | null = null;
  private view: GridView = { runs: [], axis: "step", smooth: 0, log: false };
  private readonly leaveSync: () => void;
  private readonly offPush: () => void;
  /** The charts in view first, before the rest of the grid is built (first-screen.ts). */
  readonly firstScreen: FirstScreen;

  constructor(
    private readonly live: FeedLive,
    keysChanged: () => void,
    private readonly windowChanged: (z: Zoom | null) => void,
    firstScreenDone: () => void = () => {},
  ) {
    this.firstScreen = new FirstScreen(firstScreenDone);
    // The grid's first screen is many reads and draws spread over frames; the side panels
    // load from the start, beside its key lists: holding them until it was drawn did not
    // make it faster (docs/performance.md). Only single charts make them wait.
    sidePanelsNow();
    this.keys = new KeyIndex(live, { keys: restReader.keys, keysMany: restKeysMany }, keysChanged);
    // the charts' bucket reads, coalesced into one request per task; their feeds keep no
    // key lists (the index does)
    this.reader = {
      keys: (id) => this.keys.keysOf(id),
      buckets: (q, signal) =>
        this.prefetch.take(q, signal, () => this.batch.buckets(q, signal)) ?? this.batch.buckets(q, signal),
    };
    this.prefetch = new Prefetch(this.batch.buckets, (r, k) => this.ackedSteps.get(r)?.[k]);
    this.offPush = live.on("metric_update", (m) => this.prefetch.pushed(m.run_id, Object.keys(m.points)));
    // the toolbar hears of every zoom and reset (to enable its reset button)
    this.leaveSync = this.sync.join({ showCursor: () => {}, showWindow: (z) => this.windowChanged(z) });
  }

  /** The scrolling element the cells live in (the IntersectionObserver's root). */
  observe(scroller: HTMLElement): void {
    this.io?.disconnect();
    this.scroller?.removeEventListener("scroll", this.onScroll);
    this.scroller = scroller;
    this.style = null;
    scroller.addEventListener("scroll", this.onScroll, { passive: true });
    if (typeof IntersectionObserver === "undefined") return;
    this.io = new IntersectionObserver((entries) => this.onIntersect(entries), { root: scroller, rootMargin: MARGIN });
    for (const c of this.cells.values()) this.io.observe(c.els.root);
  }

  destroy(): void {
    this.io?.disconnect();
    this.io = null;
    this.scroller?.removeEventListener("scroll", this.onScroll);
    if (this.recheck) clearTimeout(this.recheck);
    this.firstScreen.destroy();
    for (const c of this.cells.values()) c.chart?.destroy();
    this.cells.clear();
    this.byEl.clear();
    this.frames.destroy();
    this.prefetch.clear();
    this.offPush();
    this.batch.destroy();
    this.keys.destroy();
    this.leaveSync();
  }

  configure(view: GridView): void {
    const reread = view.runs.join(",") !== this.view.runs.join(",") || view.axis !== this.view.axis;
    this.view = { ...view, runs: [...view.runs] };
    this.keys.configure(view.runs);
    if (reread) {
      this.sync.setWindow(null, null);
      this.prefetch.clear();
      // the subscriptions' first cursors (KeyIndex holds them): a read sent before the
      // ack is complete only if it reaches them (prefetch.ts)
      for (const r of view.runs) {
        if (this.ackedSteps.has(r)) continue;
        void this.live.ready({ run_id: r }).then(() => {
          const steps = this.live.cursor?.({ run_id: r })?.steps;
          if (steps && this.view.runs.includes(r) && !this.ackedSteps.has(r)) this.ackedSteps.set(r, { ...steps });
        });
      }
      for (const r of this.ackedSteps.keys()) if (!view.runs.includes(r)) this.ackedSteps.delete(r);
    }
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
    this.prefetch.drop(key);
    this.firstScreen.settled(key); // gone (filtered out, or a placeholder again): not awaited
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
    if (!shown) {
      this.prefetch.drop(key);
      return;
    }
    this.read(key, cell);
    if (cell.queued) return;
    cell.queued = true;
    // creating a chart (uPlot, a read) is spread over frames: scrolling stays smooth
    this.frames.later(() => this.create(key, cell));
  }

  private create(key: string, cell: Cell): void {
    cell.queued = false;
    if (this.cells.get(key) !== cell || cell.chart || !cell.shown) return;
    if (this.flinging()) {
      // scrolled past at speed: a chart (uPlot, a read) for every cell flying by would
      // cost frames; the cell waits (its frame shows) until the scrolling slows
      cell.queued = true;
      this.recheck ??= setTimeout(() => {
        this.recheck = null;
        for (const [k, c] of this.cells) {
          if (!c.queued || c.chart) continue;
          if (c.shown) this.frames.later(() => this.create(k, c));
          else c.queued = false; // scrolled away meanwhile: created when it shows again
        }
      }, FLING_RECHECK_MS);
      return;
    }
    const env = {
      live: this.live,
      reader: this.reader,
      sync: this.sync,
      frames: this.frames,
      style: () => this.theme(),
      sizes: this.sizes,
      settled: (k: string) => this.firstScreen.settled(k),
    };
    cell.chart = new GridChart(key, cell.els, env, this.view);
    cell.chart.setVisible(true);
  }

  /**
   * Send the first reads of the cells in view (with the observer's margin) now, right after
   * React laid them out and before the browser paints them, rather than when the
   * IntersectionObserver reports them (after that paint and the cells' effects, a frame
   * later): the server starts on them while the page paints. Cells go in their attach order
   * (the page's, on a first render); the observer still decides what is shown.
   */
  readInView(): void {
    const sc = this.scroller;
    if (!sc || !this.view.runs.length || this.flinging()) return;
    const box = sc.getBoundingClientRect();
    if (!box.height) return;
    const top = box.top - MARGIN_PX;
    const bottom = box.bottom + MARGIN_PX;
    const read: string[] = [];
    for (const [key, cell] of this.cells) {
      if (cell.chart || cell.queued) continue;
      const r = cell.els.root.getBoundingClientRect();
      if (!r.height) continue;
      if (r.top > bottom) break; // the cells after it are further down
      if (r.bottom < top) continue;
      this.sizes.measure(cell.els.plot); // in this pass of reads: its chart asks it later
      if (this.read(key, cell)) read.push(key);
    }
    if (this.cells.size) this.firstScreen.begin(read);
    if (read.length) this.batch.flush(); // out now, while the page paints: not after that paint
  }

  /**
   * Send a shown cell's first read now, before its chart is created over the next frames:
   * the cells that come into view together share one request. Not while the grid flings past.
   */
  private read(key: string, cell: Cell): boolean {
    const runs = this.view.runs;
    if (!runs.length || cell.chart || this.flinging()) return false;
    this.prefetch.start({ runs, key, axis: this.view.axis, n: gridBucketTarget(this.sizes.get(cell.els.plot).width), win: null });
    return true;
  }

  private theme(): CSSStyleDeclaration {
    this.style ??= getComputedStyle(this.scroller ?? document.documentElement);
    return this.style;
  }

  private onScroll = (): void => {
    const el = this.scroller;
    if (!el) return;
    const t = performance.now();
    this.firstScreen.finish(); // the user looks further: build the whole grid now
    this.scrolls.push({ top: el.scrollTop, t });
    while (this.scrolls.length > 2 && t - this.scrolls[0]!.t > FLING_WINDOW_MS) this.scrolls.shift();
  };

  /** Scrolling fast now: the speed over the last FLING_WINDOW_MS (0 once it stopped). */
  private flinging(): boolean {
    const s = this.scrolls;
    const t = performance.now();
    if (s.length < 2 || t - s[s.length - 1]!.t > FLING_RECHECK_MS) return false;
    const a = s[0]!;
    const b = s[s.length - 1]!;
    const dt = Math.max(t - a.t, 16);
    return Math.abs(b.top - a.top) / dt > FLING_PX_PER_MS;
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
