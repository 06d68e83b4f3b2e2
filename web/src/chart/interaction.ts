// The chart's mouse and keyboard interaction: drag selects an x range to zoom into,
// shift+drag pans, double-click resets, arrow keys pan by a fraction of the window. It
// moves the window at once (drawing what is held) and asks for finer buckets only once
// the user settles (debounced), never per mouse move.
import type uPlot from "uplot";
import type { Zoom } from "./feed";

const ZOOM_DEBOUNCE_MS = 100;
const PAN_SETTLE_MS = 150;

export interface InteractionHost {
  /** The uPlot instance (null before the first draw). */
  plot(): uPlot | null;
  /** The x window shown now, or null. */
  shown(): Zoom | null;
  /** Show this window (a zoom or a pan step). */
  show(z: Zoom): void;
  /** Back to everything. */
  reset(): void;
  /** The user settled on the window shown: read finer buckets for it. */
  settled(): void;
}

export class ChartInteraction {
  private panning: { x: number; zoom: Zoom } | null = null;
  private selecting: { x: number; rect: DOMRect } | null = null;
  private panFrame = 0;
  private panTo: Zoom | null = null;
  private settleTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly plotEl: HTMLElement,
    private readonly host: InteractionHost,
  ) {
    plotEl.addEventListener("mousedown", this.onMouseDown, true);
    plotEl.addEventListener("dblclick", this.onDblClick);
  }

  destroy(): void {
    this.plotEl.removeEventListener("mousedown", this.onMouseDown, true);
    this.plotEl.removeEventListener("dblclick", this.onDblClick);
    this.endPan();
    this.endSelect();
    this.cancelSettle();
    cancelAnimationFrame(this.panFrame);
  }

  /** Move the window by a fraction of its width (arrow keys). */
  panBy(frac: number): void {
    const z = this.host.shown();
    if (!z) return;
    const d = (z.max - z.min) * frac;
    this.host.show({ min: z.min + d, max: z.max + d });
    this.settleAfter(PAN_SETTLE_MS);
  }

  /** Forget a pending "settled" (the window was reset). */
  cancelSettle(): void {
    if (this.settleTimer) clearTimeout(this.settleTimer);
    this.settleTimer = null;
  }

  private settleAfter(ms: number): void {
    this.cancelSettle();
    this.settleTimer = setTimeout(() => {
      this.settleTimer = null;
      this.host.settled();
    }, ms);
  }

  private onDblClick = (): void => this.host.reset();

  /**
   * Drag selects an x range to zoom into; shift+drag pans. Both follow the mouse on
   * window (so a drag may leave the plot), and uPlot's own drag is kept out.
   */
  private onMouseDown = (e: MouseEvent): void => {
    const u = this.host.plot();
    if (e.button !== 0 || !u) return;
    if (!e.shiftKey) {
      e.stopPropagation();
      const rect = u.over.getBoundingClientRect();
      this.selecting = { x: e.clientX - rect.left, rect };
      window.addEventListener("mousemove", this.onSelectMove);
      window.addEventListener("mouseup", this.onSelectUp);
      return;
    }
    const z = this.host.shown();
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
    const u = this.host.plot();
    if (!span || !u) return;
    u.setSelect({ left: span.left, width: span.width, top: 0, height: u.over.clientHeight }, false);
  };

  private onSelectUp = (e: MouseEvent): void => {
    const span = this.selectSpan(e);
    this.endSelect();
    const u = this.host.plot();
    if (!u || !span) return;
    u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
    if (span.width < 3) return;
    const min = u.posToVal(span.left, "x");
    const max = u.posToVal(span.left + span.width, "x");
    if (!(max > min)) return;
    this.host.show({ min, max });
    this.settleAfter(ZOOM_DEBOUNCE_MS);
  };

  private endSelect(): void {
    this.selecting = null;
    window.removeEventListener("mousemove", this.onSelectMove);
    window.removeEventListener("mouseup", this.onSelectUp);
  }

  private onPanMove = (e: MouseEvent): void => {
    const p = this.panning;
    const u = this.host.plot();
    if (!p || !u) return;
    const w = u.over.clientWidth || 1;
    const d = ((p.x - e.clientX) / w) * (p.zoom.max - p.zoom.min);
    this.panTo = { min: p.zoom.min + d, max: p.zoom.max + d };
    if (this.panFrame) return;
    this.panFrame = requestAnimationFrame(() => {
      this.panFrame = 0;
      if (this.panTo) this.host.show(this.panTo); // draws what we hold; no read per frame
    });
  };

  private onPanUp = (): void => {
    this.endPan();
    this.settleAfter(PAN_SETTLE_MS);
  };

  private endPan(): void {
    this.panning = null;
    window.removeEventListener("mousemove", this.onPanMove);
    window.removeEventListener("mouseup", this.onPanUp);
  }
}
