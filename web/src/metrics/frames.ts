// One animation frame for the whole grid: charts that have new live points, or that just
// became visible, ask to be drawn; the batch draws each once on the next frame. Work that
// is not urgent (creating the charts scrolled into view) is spread over frames with a
// budget so scrolling stays smooth. Tested with an injected frame clock.

export interface FrameClock {
  request(fn: () => void): number;
  cancel(id: number): void;
  now(): number;
}

export const browserClock: FrameClock = {
  request: (fn) => requestAnimationFrame(fn),
  cancel: (id) => cancelAnimationFrame(id),
  now: () => performance.now(),
};

export class FrameBatch {
  private draws = new Set<() => void>();
  private slow: Array<() => void> = [];
  private frame = 0;

  constructor(
    private readonly clock: FrameClock = browserClock,
    /** Milliseconds per frame the slow queue may use (at least one task runs per frame). */
    private readonly budgetMs = 8,
  ) {}

  /** Run `draw` on the next frame (once, however often it is asked for before then). */
  draw(draw: () => void): void {
    this.draws.add(draw);
    this.schedule();
  }

  /** Forget a pending draw (its chart went away). */
  cancel(draw: () => void): void {
    this.draws.delete(draw);
  }

  /** Queue a task that may wait for a later frame (first in, first out). */
  later(task: () => void): void {
    this.slow.push(task);
    this.schedule();
  }

  /** Drop queued slow tasks that `keep` rejects. */
  prune(keep: (task: () => void) => boolean): void {
    this.slow = this.slow.filter(keep);
  }

  get pending(): number {
    return this.draws.size + this.slow.length;
  }

  destroy(): void {
    if (this.frame) this.clock.cancel(this.frame);
    this.frame = 0;
    this.draws.clear();
    this.slow = [];
  }

  private schedule(): void {
    if (this.frame) return;
    this.frame = this.clock.request(() => this.run());
  }

  private run(): void {
    this.frame = 0;
    const t0 = this.clock.now();
    const draws = [...this.draws];
    this.draws.clear();
    for (const d of draws) d();
    let first = true;
    while (this.slow.length && (first || this.clock.now() - t0 < this.budgetMs)) {
      this.slow.shift()!();
      first = false;
    }
    if (this.slow.length || this.draws.size) this.schedule();
  }
}
