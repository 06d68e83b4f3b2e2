// The run list's metric column: the last logged value of one key (default `loss`, the
// user may pick another) for the runs whose rows are on screen. Rows `watch` their run;
// the watched runs not read yet are read together, in one compare read per 100 runs
// (`n=1`: one bucket whose `last` is the last logged point), and running runs are read
// again every few seconds. Live pushes of a subscribed run (the open or compared ones)
// land at once. Never the run's summary: a summary holds whatever the script put there.
import { ApiError, api, toNumber } from "../api/client";

export interface LastValue {
  step: number;
  value: number;
}

/** Reads the last point of `key` for some runs (null: the run has no such key). */
export type ReadLast = (key: string, runIds: string[]) => Promise<Map<string, LastValue | null>>;

/** Runs one compare read may name (the server's limit). */
export const READ_CHUNK = 100;
export const DEFAULT_METRIC_KEY = "loss";

export interface LastValuesOptions {
  /** How often running runs on screen are read again. */
  refreshMs?: number;
  /** Wait before reading, so the rows mounted in one render are read together. */
  batchMs?: number;
}

/** The last point of a key for many runs, in compare reads (n=1: one bucket per run). */
export const readLastByCompare: ReadLast = async (key, runIds) => {
  const out = new Map<string, LastValue | null>();
  try {
    const res = await api.get("/api/metrics/compare", { query: { key, run_ids: runIds.join(","), n: 1 } as never });
    for (const r of res.runs) {
      const b = r.buckets;
      const i = b ? b.last.length - 1 : -1;
      const value = b && i >= 0 ? toNumber(b.last[i]) : null;
      out.set(r.run_id, b && i >= 0 && value !== null ? { step: b.last_step[i]!, value } : null);
    }
  } catch (e) {
    // a run was deleted meanwhile: read the others one by one
    if (!(e instanceof ApiError && e.status === 404)) throw e;
    if (runIds.length === 1) out.set(runIds[0]!, null);
    else for (const id of runIds) for (const [k, v] of await readLastByCompare(key, [id]).catch(() => new Map())) out.set(k, v);
  }
  return out;
};

interface Watch {
  refs: number;
  live: boolean;
}

export class LastValues {
  private metric = DEFAULT_METRIC_KEY;
  private values = new Map<string, LastValue | null>();
  private readAt = new Map<string, number>();
  private watched = new Map<string, Watch>();
  private listeners = new Set<() => void>();
  private timer: ReturnType<typeof setTimeout> | null = null;
  private reading = false;
  private gen = 0;
  private readonly refreshMs: number;
  private readonly batchMs: number;

  constructor(
    private readonly read: ReadLast,
    opts: LastValuesOptions = {},
    private readonly now: () => number = () => Date.now(),
  ) {
    this.refreshMs = opts.refreshMs ?? 5000;
    this.batchMs = opts.batchMs ?? 30;
  }

  get key(): string {
    return this.metric;
  }

  /** Show another key: the values held are dropped and the rows on screen read again. */
  setKey(key: string): void {
    if (!key || key === this.metric) return;
    this.metric = key;
    this.gen += 1;
    this.values.clear();
    this.readAt.clear();
    this.changed();
    this.schedule(0);
  }

  /** undefined: not read yet; null: the run has no such key. */
  get(runId: string): LastValue | null | undefined {
    return this.values.get(runId);
  }

  /** A row is on screen (`live`: its run may still log). Returns the unwatch function. */
  watch(runId: string, live: boolean): () => void {
    const w = this.watched.get(runId);
    if (w) {
      w.refs += 1;
      w.live = live;
    } else this.watched.set(runId, { refs: 1, live });
    if (!this.readAt.has(runId) || live) this.schedule(this.batchMs);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const x = this.watched.get(runId);
      if (x && --x.refs <= 0) this.watched.delete(runId);
    };
  }

  /** Points pushed live for a run (metric_update): the newest of the key wins. */
  push(runId: string, points: Record<string, Array<[number, number, number | string]>>): void {
    const pts = points[this.metric];
    if (!pts || !pts.length) return;
    const [step, , raw] = pts[pts.length - 1]!;
    const value = toNumber(raw);
    const old = this.values.get(runId);
    if (value === null || (old && old.step > step)) return;
    this.values.set(runId, { step, value });
    this.changed();
  }

  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  destroy(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.watched.clear();
    this.listeners.clear();
  }

  /** The watched runs to read now: never read, or live and read longer ago than refreshMs. */
  due(): string[] {
    const t = this.now();
    const out: string[] = [];
    for (const [id, w] of this.watched) {
      const at = this.readAt.get(id);
      if (at === undefined || (w.live && t - at >= this.refreshMs)) out.push(id);
    }
    return out;
  }

  private schedule(ms: number): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, ms);
  }

  private async flush(): Promise<void> {
    if (this.reading) return;
    const ids = this.due();
    const key = this.metric;
    const gen = this.gen;
    let failed = false;
    this.reading = true;
    try {
      for (let i = 0; i < ids.length && gen === this.gen; i += READ_CHUNK) {
        const chunk = ids.slice(i, i + READ_CHUNK);
        let got: Map<string, LastValue | null>;
        try {
          got = await this.read(key, chunk);
        } catch {
          failed = true; // the server is away: keep what is shown, try again later
          break;
        }
        if (gen !== this.gen) break; // the key changed meanwhile: this answer is stale
        const t = this.now();
        for (const id of chunk) {
          this.readAt.set(id, t);
          const v = got.get(id) ?? null;
          const old = this.values.get(id);
          if (!(old && v && old.step > v.step)) this.values.set(id, v); // a push may be newer
        }
        this.changed();
      }
    } finally {
      this.reading = false;
      if (failed) this.schedule(this.refreshMs);
      else this.reschedule(gen === this.gen);
    }
  }

  /** After a read: at once for a new key, soon for rows not read yet, later for live rows. */
  private reschedule(sameKey: boolean): void {
    if (!sameKey) return this.schedule(0);
    const unread = [...this.watched.keys()].some((id) => !this.readAt.has(id));
    if (unread) this.schedule(this.batchMs);
    else if ([...this.watched.values()].some((w) => w.live)) this.schedule(this.refreshMs);
  }

  private changed(): void {
    for (const fn of this.listeners) fn();
  }
}
