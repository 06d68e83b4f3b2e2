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

export class PlotSizes {
  private readonly sizes = new WeakMap<Measurable, PlotSize>();

  /** Measure `plot` now (a layout, if one is pending) and remember it. */
  measure(plot: Measurable): PlotSize {
    const size = { width: plot.clientWidth, height: plot.clientHeight };
    this.sizes.set(plot, size);
    return size;
  }

  /** `plot`'s size as last seen: measured now if it never was. */
  get(plot: Measurable): PlotSize {
    return this.sizes.get(plot) ?? this.measure(plot);
  }

  /** `plot`'s size as a ResizeObserver reported it (its content box: the plot has no padding). */
  observed(plot: Measurable, size: PlotSize): void {
    this.sizes.set(plot, { width: size.width, height: size.height });
  }
}
