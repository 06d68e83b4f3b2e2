// The grid's bucket reads, coalesced: the charts that ask for buckets in the same task
// (those created in one frame, or all of them when the live subscriptions are
// acknowledged) get one `GET /api/metrics/compare/many` for all their keys instead of a
// request each. Thirty requests at once queue behind the browser's six connections and the
// server's one interpreter, each paying its routing and response; one request pays once.
// Reads with different runs, bucket counts, axes or x windows go in different requests; a
// request names at most MAX_KEYS keys. The transport is a seam (tests pass an in-memory
// one; the page uses the REST route).
import { ApiError, api, type BucketColumns } from "../api/client";
import { STEP_FIELDS, restReader, windowQuery, withTimes, type BucketQuery, type Zoom } from "../chart/feed";
import type { Axis } from "../chart/model";

/** Keys one request names at most (the server takes 200). */
export const MAX_KEYS = 64;

export type RunBuckets = Map<string, BucketColumns | null>;

/** Many keys alike: same runs, bucket count, axis and window. */
export interface ManyQuery {
  keys: string[];
  runs: string[];
  axis: Axis;
  n: number;
  win: Zoom | null;
}

/** Buckets per key, per run; a run gone makes it throw an ApiError 404. */
export type ManyRead = (q: ManyQuery, signal: AbortSignal) => Promise<Map<string, RunBuckets>>;
/** One key's read (the fallback when a run of a batch is gone: it reads run by run). */
export type OneRead = (q: BucketQuery, signal: AbortSignal) => Promise<RunBuckets>;

/** The REST transport: `GET /api/metrics/compare/many` (without the times on the step axis). */
export const restMany: ManyRead = async (q, signal) => {
  const query = { ...windowQuery(q), keys: q.keys, fields: q.axis === "step" ? STEP_FIELDS.join(",") : undefined };
  const res = await api.get("/api/metrics/compare/many", { query: query as never, signal });
  const out = new Map<string, RunBuckets>();
  for (const c of res.results) out.set(c.key, new Map(c.runs.map((r) => [r.run_id, r.buckets ? withTimes(r.buckets) : null])));
  return out;
};

interface Waiter {
  q: BucketQuery;
  signal: AbortSignal;
  resolve: (r: RunBuckets) => void;
  reject: (e: unknown) => void;
}

function aborted(): Error {
  return new DOMException("the read was aborted", "AbortError");
}

export class BucketBatch {
  private pending: Waiter[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  private destroyed = false;

  constructor(
    private readonly many: ManyRead = restMany,
    private readonly one: OneRead = restReader.buckets,
  ) {}

  /** A chart's read (FeedReader.buckets): answered from the next batched request. */
  readonly buckets = (q: BucketQuery, signal: AbortSignal): Promise<RunBuckets> =>
    new Promise<RunBuckets>((resolve, reject) => {
      if (signal.aborted || this.destroyed) {
        reject(aborted());
        return;
      }
      this.pending.push({ q, signal, resolve, reject });
      // after this task and its microtasks: every chart that reads now joins the request
      this.timer ??= setTimeout(() => this.flush(), 0);
    });

  destroy(): void {
    this.destroyed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    for (const w of this.pending) w.reject(aborted());
    this.pending = [];
  }

  /** Send what waits: one request per kind of read and per MAX_KEYS keys. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const groups = new Map<string, Waiter[]>();
    for (const w of this.pending) {
      if (w.signal.aborted) {
        w.reject(aborted());
        continue;
      }
      const { runs, axis, n, win } = w.q;
      const sig = `${runs.join(",")}|${axis}|${n}|${win ? `${win.min}:${win.max}` : ""}`;
      let g = groups.get(sig);
      if (!g) groups.set(sig, (g = []));
      g.push(w);
    }
    this.pending = [];
    for (const waiters of groups.values()) {
      const byKey = new Map<string, Waiter[]>();
      for (const w of waiters) {
        const ws = byKey.get(w.q.key);
        if (ws) ws.push(w);
        else byKey.set(w.q.key, [w]);
      }
      const keys = [...byKey.keys()];
      for (let i = 0; i < keys.length; i += MAX_KEYS) {
        const part = keys.slice(i, i + MAX_KEYS);
        void this.send(part, part.flatMap((k) => byKey.get(k)!));
      }
    }
  }

  private async send(keys: string[], waiters: Waiter[]): Promise<void> {
    const { runs, axis, n, win } = waiters[0]!.q;
    // the request goes on while any of its charts still wants it
    const abort = new AbortController();
    let wanted = waiters.length;
    for (const w of waiters) {
      w.signal.addEventListener(
        "abort",
        () => {
          w.reject(aborted());
          if (--wanted === 0) abort.abort();
        },
        { once: true },
      );
    }
    let res: Map<string, RunBuckets>;
    try {
      res = await this.many({ keys, runs, axis, n, win }, abort.signal);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) {
        // a run was deleted: each key alone (that read goes run by run)
        for (const w of waiters) this.one(w.q, w.signal).then(w.resolve, w.reject);
      } else {
        for (const w of waiters) w.reject(e); // the server is away: each chart retries
      }
      return;
    }
    for (const w of waiters) w.resolve(res.get(w.q.key) ?? new Map());
  }
}
