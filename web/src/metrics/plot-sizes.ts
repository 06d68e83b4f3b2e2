// The size of each grid cell's plotting area, as last seen. Reading an element's size
// lays the page out first if anything changed since the last layout, and creating a chart
// changes its cell (its loading state, uPlot's elements): thirty charts created and drawn
// one after another, each asking its size, laid the page out some sixty times on a first
// screen (about 45 ms of a load's main thread). Instead the grid measures the cells it is
// about to read in one pass (reads only, one layout), and each chart's ResizeObserver,
// which the browser calls after its own layout, keeps its cell's size current.

/** The size the grid's charts need of a plotting area, in CSS pixels. */
export interface PlotSize {
  width: number;
  height: number;
}

/** What PlotSizes reads of an element (an HTMLElement; tests pass plain objects). */
export interface Measurable {
  readonly clientWidth: number;
  readonly clientHeight: number;
}

/**
 * How long a size measured in a pass holds for a cell whose chart does not watch it yet:
 * long enough for the charts of that pass to be created (a frame or a few), short enough
 * that a cell measured before the grid was resized is measured again, not read at its old
 * size.
 */
export const MEASURED_MS = 1000;

interface Entry extends PlotSize {
  /** Until when a measured size holds (performance.now()); null: a watched plot's. */
  until: number | null;
}

export class PlotSizes {
  private readonly sizes = new WeakMap<Measurable, Entry>();

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Measure `plot` now (a layout, if one is pending) and remember it for a while. */
  measure(plot: Measurable): PlotSize {
    const size = { width: plot.clientWidth, height: plot.clientHeight };
    this.sizes.set(plot, { ...size, until: this.now() + MEASURED_MS });
    return size;
  }

  /** `plot`'s size: as its observer last reported it, or as measured lately, else now. */
  get(plot: Measurable): PlotSize {
    const e = this.sizes.get(plot);
    if (e && (e.until === null || this.now() <= e.until)) return { width: e.width, height: e.height };
    return this.measure(plot);
  }

  /** `plot`'s size as its ResizeObserver reported it (its content box: the plot has no
   * padding); it holds until the observer reports another or `unwatched` is called. */
  observed(plot: Measurable, size: PlotSize): void {
    this.sizes.set(plot, { width: size.width, height: size.height, until: null });
  }

  /** Its observer stopped (the chart went away): measure it again when next asked. */
  unwatched(plot: Measurable): void {
    this.sizes.delete(plot);
  }
}
