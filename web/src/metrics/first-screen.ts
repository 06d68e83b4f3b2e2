// The grid's first screen. Its first render builds the cells in view (and a few more); the
// rest of the grid (the other ~150 cells of 200 keys, as empty boxes of the same size until
// then) is built once the charts in view have drawn, not while the server reads them and
// the page draws them: on a small machine the page's work and the server's share the same
// cores (docs/performance.md). Done, once, when each chart read for the first screen drew
// or failed, when the user scrolls, or after a time limit, whichever comes first.

export interface Timers {
  set(fn: () => void, ms: number): unknown;
  clear(id: unknown): void;
}

const browserTimers: Timers = {
  set: (fn, ms) => setTimeout(fn, ms),
  clear: (id) => clearTimeout(id as ReturnType<typeof setTimeout>),
};

/** The longest the rest of the grid waits for the first screen (a slow or absent server). */
export const FIRST_SCREEN_LIMIT_MS = 1500;

export class FirstScreen {
  private waiting: Set<string> | null = null;
  private timer: unknown = null;
  private finished = false;

  constructor(
    private readonly done: () => void,
    private readonly limitMs = FIRST_SCREEN_LIMIT_MS,
    private readonly timers: Timers = browserTimers,
  ) {}

  /** The keys whose charts make up the first screen (only the first call counts). */
  begin(keys: Iterable<string>): void {
    if (this.finished || this.waiting) return;
    this.waiting = new Set(keys);
    if (!this.waiting.size) this.finish();
    else this.arm();
  }

  /** The grid has keys: the limit runs from now even if no first screen is ever read
   * (a panel not laid out, every section collapsed). */
  arm(): void {
    if (this.finished || this.timer !== null) return;
    this.timer = this.timers.set(() => this.finish(), this.limitMs);
  }

  /** A chart drew its first read, or gave up on it. */
  settled(key: string): void {
    if (!this.waiting?.delete(key)) return;
    if (!this.waiting.size) this.finish();
  }

  /** Done now (the user scrolled, or the limit passed). */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.cancel();
    this.done();
  }

  /** The grid went away: never done. */
  destroy(): void {
    this.finished = true;
    this.cancel();
  }

  private cancel(): void {
    if (this.timer !== null) this.timers.clear(this.timer);
    this.timer = null;
  }
}
