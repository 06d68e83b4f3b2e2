// The chart's data feed: which runs and key it follows, the runs' bucket series (read by
// REST, grown by live pushes, refined by zoom reads) and the metric keys the runs have.
// It knows nothing of drawing or the DOM: it tells its listener when to redraw and when
// its status changed, and takes the live client and the REST reads as seams (tests drive
// it with the real LiveClient over the fake socket, and an in-memory reader).
import { ApiError, api, toNumber, type BucketColumns, type SomeColumns } from "../api/client";
import type { MessageOf } from "../live/socket";
import { SharedReads } from "../api/shared";
import { BucketSeries, type Axis } from "./model";

/** An x window (steps or epoch seconds). */
export interface Zoom {
  min: number;
  max: number;
}

/** What the feed needs of the live connection (LiveClient has it). */
export interface FeedLive {
  on(type: "metric_update", fn: (m: MessageOf<"metric_update">) => void): () => void;
  subscribeRun(runId: string): () => void;
  ready(t: { run_id: string }): Promise<void>;
  /** What a run's subscription has seen (its newest step per key), null before the ack. */
  cursor?(t: { run_id: string }): { steps: Record<string, number> } | null;
}

export interface BucketQuery {
  runs: string[];
  key: string;
  axis: Axis;
  /** About how many buckets per run. */
  n: number;
  /** Only this x window (a zoom read), or everything. */
  win: Zoom | null;
}

/** The REST reads of the feed. */
export interface FeedReader {
  /** The metric keys a run has (throws for a deleted run). */
  keys(runId: string): Promise<string[]>;
  /** Buckets per run; a run without the key or gone maps to null. Throws when the server is away. */
  buckets(q: BucketQuery, signal: AbortSignal): Promise<Map<string, BucketColumns | null>>;
}

export interface FeedListener {
  /** The series changed as a whole (a read came in, runs changed): redraw now. */
  redraw(): void;
  /** Live points landed in the window shown: redraw on the next frame. */
  grew(): void;
  /** Loading, error, keys or whether there are points may have changed. */
  status(): void;
}

export interface FeedOptions {
  /** Longest wait for the server's subscription ack before reading anyway. */
  readyTimeoutMs?: number;
  /** Waits before re-reading after a failed read: doubling from min to max. */
  retryMinMs?: number;
  retryMaxMs?: number;
  /**
   * Keep the runs' key lists (REST + live) for keys(): a chart with a key picker does; a
   * metrics grid, which keeps one list for all its charts, does not (default true).
   */
  trackKeys?: boolean;
}

const READY_TIMEOUT_MS = 3000;
const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 30_000;

/** The query of a compare read but its key(s): runs, buckets, axis and x window. */
export function windowQuery(q: Omit<BucketQuery, "key">): Record<string, string | number> {
  const query: Record<string, string | number> = { run_ids: q.runs.join(","), n: q.n, x: q.axis };
  if (q.win) {
    if (q.axis === "step") {
      query.step_min = Math.floor(q.win.min);
      query.step_max = Math.ceil(q.win.max);
    } else {
      query.time_min = q.win.min;
      query.time_max = q.win.max;
    }
  }
  return query;
}

/**
 * The columns a chart on the step axis reads: all but the wall times (x0/x1 read them on
 * the time axis only), which are over a quarter of the answer.
 */
export const STEP_FIELDS = ["first_step", "last_step", "count", "min", "max", "mean", "last", "nan", "pinf", "ninf"] as const;

/** A bucket answer read without its times (`fields`), with them filled in as NaN. */
export function withTimes(c: SomeColumns): BucketColumns {
  if (c.first_time && c.last_time) return c as BucketColumns;
  const n = c.first_step?.length ?? 0;
  return { ...c, first_time: new Array<number>(n).fill(Number.NaN), last_time: new Array<number>(n).fill(Number.NaN) } as BucketColumns;
}

type CompareOut = Awaited<ReturnType<typeof compareGet>>;
/** One key's compare read: `compare/many` with that key, for its `fields` (no times on the step axis). */
const compareGet = (query: Record<string, unknown>, signal: AbortSignal) =>
  api.get("/api/metrics/compare/many", { query: query as never, signal });
/** Identical compare reads in flight share one request (charts A and B of the same key). */
const compares = new SharedReads<CompareOut>();
/** So do the key lists of a run asked for by several feeds at once. */
const keyLists = new SharedReads<string[]>();

/**
 * One compare read for all runs (a run without the key comes back empty, not as a 404:
 * the browser logs every failed request, and the page must stay free of console errors).
 */
async function readBuckets(q: BucketQuery, signal: AbortSignal): Promise<Map<string, BucketColumns | null>> {
  const out = new Map<string, BucketColumns | null>();
  const query = { keys: [q.key], ...windowQuery(q), ...(q.axis === "step" ? { fields: STEP_FIELDS.join(",") } : {}) };
  try {
    const res = await compares.get(JSON.stringify(query), (s) => compareGet(query, s), signal);
    for (const r of res.results[0]?.runs ?? []) out.set(r.run_id, r.buckets ? withTimes(r.buckets) : null);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404 && q.runs.length > 1) {
      // a run was deleted: read the others one by one
      for (const r of q.runs) {
        const one = await readBuckets({ ...q, runs: [r] }, signal).catch(() => null);
        out.set(r, one?.get(r) ?? null);
      }
    } else if (e instanceof ApiError && e.status === 404) {
      out.set(q.runs[0]!, null); // the one run is gone: nothing to draw
    } else {
      throw e; // the server is away or broke: the caller says so and retries
    }
  }
  return out;
}

/** The reads over the server's REST API. */
export const restReader: FeedReader = {
  keys: (runId) =>
    keyLists.get(runId, async () => {
      // the names alone (the series rows), not each series' count and range
      const res = await api.get("/api/metrics/keys", { query: { run_ids: runId } });
      return res.keys;
    }),
  buckets: readBuckets,
};

export class ChartFeed {
  private runs: string[] = [];
  private key = "";
  private axis: Axis = "step";
  private target = 1000;
  private full = new Map<string, BucketSeries>();
  private view = new Map<string, BucketSeries>(); // zoomed: full with finer buckets spliced in
  private buffered = new Map<string, Array<[number, number, number]>>();
  private keysByRun = new Map<string, Set<string>>();
  private subs = new Map<string, () => void>();
  private win: Zoom | null = null;
  private retryMs: number;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private gen = 0;
  private loadAbort: AbortController | null = null;
  private zoomAbort: AbortController | null = null;
  private offLive: () => void;
  private destroyed = false;
  private readonly readyTimeoutMs: number;
  private readonly retryMinMs: number;
  private readonly retryMaxMs: number;
  private readonly trackKeys: boolean;
  /** Reading the first buckets (also while retrying a failed read). */
  loading = false;
  /** Why the last read failed (it is retried), or null. */
  error: string | null = null;

  constructor(
    private readonly live: FeedLive,
    private readonly reader: FeedReader,
    private readonly listener: FeedListener,
    /** About how many buckets per run to ask for (read at each full read). */
    private readonly targetBuckets: () => number = () => 1000,
    opts: FeedOptions = {},
  ) {
    this.readyTimeoutMs = opts.readyTimeoutMs ?? READY_TIMEOUT_MS;
    this.retryMinMs = opts.retryMinMs ?? RETRY_MIN_MS;
    this.retryMaxMs = opts.retryMaxMs ?? RETRY_MAX_MS;
    this.trackKeys = opts.trackKeys ?? true;
    this.retryMs = this.retryMinMs;
    this.offLive = live.on("metric_update", (m) => this.onMetrics(m));
  }

  destroy(): void {
    this.destroyed = true;
    this.offLive();
    for (const off of this.subs.values()) off();
    this.subs.clear();
    this.loadAbort?.abort();
    this.zoomAbort?.abort();
    if (this.retryTimer) clearTimeout(this.retryTimer);
  }

  /**
   * Follow these runs and key on this axis. A change of runs, key or axis drops the zoom
   * window and reads everything again; returns whether it did.
   */
  configure(c: { runs: string[]; key: string; axis: Axis }): boolean {
    const runsChanged = c.runs.join(",") !== this.runs.join(",");
    const changed = runsChanged || c.key !== this.key || c.axis !== this.axis;
    this.runs = [...c.runs];
    this.key = c.key;
    this.axis = c.axis;
    if (runsChanged) this.syncSubscriptions();
    if (changed) {
      this.win = null;
      this.view.clear();
      void this.reload();
    }
    return changed;
  }

  // ---- what the chart draws -------------------------------------------------------------

  /** The series to draw for a run: the zoomed view when there is one, else everything. */
  series(runId: string): BucketSeries | undefined {
    return this.view.get(runId) ?? this.full.get(runId);
  }

  /** Union of the runs' metric keys (REST + live), sorted. */
  keys(): string[] {
    const keys = new Set<string>();
    for (const r of this.runs) for (const k of this.keysByRun.get(r) ?? []) keys.add(k);
    return [...keys].sort();
  }

  /** Buckets held, all runs (the full series, not the zoomed views). */
  points(): number {
    let points = 0;
    for (const s of this.full.values()) points += s.length;
    return points;
  }

  // ---- zoom window ----------------------------------------------------------------------

  get window(): Zoom | null {
    return this.win;
  }

  /** The window shown (live points outside it need no redraw); null drops the finer reads. */
  setWindow(z: Zoom | null): void {
    this.win = z;
    if (z) return;
    this.zoomAbort?.abort();
    this.view.clear();
  }

  /** Read finer buckets for the current window and splice them in (then redraw). */
  async readWindow(): Promise<void> {
    const z = this.win;
    if (!z || this.loading) return;
    this.zoomAbort?.abort();
    const abort = new AbortController();
    this.zoomAbort = abort;
    const runs = [...this.runs];
    const gen = this.gen;
    let results: Map<string, BucketColumns | null>;
    try {
      results = await this.reader.buckets({ runs, key: this.key, axis: this.axis, n: this.target, win: z }, abort.signal);
    } catch {
      return; // aborted, or the server is away: keep the coarser buckets already drawn
    }
    if (abort.signal.aborted || gen !== this.gen || this.win !== z || this.destroyed) return;
    runs.forEach((r) => {
      const full = this.full.get(r);
      if (!full || !results.has(r)) return; // failed read: keep what is drawn
      const fine = BucketSeries.fromColumns(results.get(r), this.axis, this.target);
      const v = full.splice(fine, z.min, z.max);
      v.appendBucketsAfter(full); // points pushed while the read was in flight
      this.view.set(r, v);
    });
    this.listener.redraw();
  }

  // ---- subscriptions and reads ---------------------------------------------------------

  private syncSubscriptions(): void {
    for (const [id, off] of this.subs) {
      if (!this.runs.includes(id)) {
        off();
        this.subs.delete(id);
        this.keysByRun.delete(id);
      }
    }
    for (const id of this.runs) {
      if (this.subs.has(id)) continue;
      this.subs.set(id, this.live.subscribeRun(id));
      if (this.trackKeys) void this.readKeys(id);
    }
    this.listener.status();
  }

  private async readKeys(id: string): Promise<void> {
    try {
      const keys = await this.reader.keys(id);
      if (this.destroyed || !this.subs.has(id)) return;
      const set = this.keysByRun.get(id) ?? new Set<string>();
      for (const k of keys) set.add(k);
      this.keysByRun.set(id, set);
      this.listener.status();
    } catch {
      /* a deleted run: no keys */
    }
  }

  private async reload(): Promise<void> {
    const gen = ++this.gen;
    this.loadAbort?.abort();
    this.zoomAbort?.abort();
    const abort = new AbortController();
    this.loadAbort = abort;
    this.loading = true;
    this.buffered = new Map(this.runs.map((r) => [r, []]));
    this.full.clear();
    this.listener.status();
    const runs = [...this.runs];
    const key = this.key;
    const axis = this.axis;
    this.target = this.targetBuckets();
    if (!runs.length || !key) {
      this.loading = false;
      this.listener.redraw();
      this.listener.status();
      return;
    }
    // subscribe (done) → the server's ack → read REST → merge what was pushed meanwhile.
    // A socket that cannot connect yet must not keep the chart empty: read after a wait
    // anyway, and read again when the acks come (writes in between are in no cursor).
    const acked = Promise.all(runs.map((r) => this.live.ready({ run_id: r })));
    let timedOut = false;
    let waitTimer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      acked,
      new Promise<void>((r) => {
        waitTimer = setTimeout(() => {
          timedOut = true;
          r();
        }, this.readyTimeoutMs);
      }),
    ]);
    clearTimeout(waitTimer);
    if (gen !== this.gen || this.destroyed) return;
    if (timedOut) {
      void acked.then(() => {
        if (gen === this.gen && !this.destroyed) void this.reload();
      });
    }
    let results: Map<string, BucketColumns | null>;
    try {
      results = await this.reader.buckets({ runs, key, axis, n: this.target, win: null }, abort.signal);
    } catch (e) {
      if (gen !== this.gen || abort.signal.aborted || this.destroyed) return;
      // Keep "loading" (an empty chart would look like a short history) and try again.
      this.error = e instanceof Error ? e.message : String(e);
      this.listener.status();
      if (this.retryTimer) clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null;
        if (gen === this.gen && !this.destroyed) void this.reload();
      }, this.retryMs);
      this.retryMs = Math.min(this.retryMaxMs, this.retryMs * 2);
      return;
    }
    if (gen !== this.gen || abort.signal.aborted || this.destroyed) return;
    this.error = null;
    this.retryMs = this.retryMinMs;
    runs.forEach((r) => {
      const s = BucketSeries.fromColumns(results.get(r), axis, this.target);
      for (const [step, time, v] of this.buffered.get(r) ?? []) s.append(step, time, v);
      this.full.set(r, s);
    });
    this.buffered.clear();
    this.loading = false;
    this.listener.redraw();
    this.listener.status();
  }

  // ---- live ----------------------------------------------------------------------------

  private onMetrics(m: MessageOf<"metric_update">): void {
    if (!this.subs.has(m.run_id)) return;
    let newKey = false;
    if (this.trackKeys) {
      let set = this.keysByRun.get(m.run_id);
      if (!set) this.keysByRun.set(m.run_id, (set = new Set()));
      for (const k of Object.keys(m.points)) {
        if (!set.has(k)) {
          set.add(k);
          newKey = true;
        }
      }
    }
    const pts = m.points[this.key];
    if (pts && pts.length) {
      if (this.loading) {
        const buf = this.buffered.get(m.run_id);
        if (buf) for (const [s, t, v] of pts) buf.push([s, t, toNum(v)]);
      } else {
        const full = this.full.get(m.run_id);
        const view = this.view.get(m.run_id);
        const wasEmpty = !full || full.length === 0;
        const z = this.win;
        let visible = !z;
        if (full) {
          for (const [s, t, raw] of pts) {
            const v = toNum(raw);
            full.append(s, t, v);
            if (view) view.append(s, t, v);
            if (z) {
              const x = this.axis === "step" ? s : t;
              if (x >= z.min && x <= z.max) visible = true;
            }
          }
        }
        if (full && visible) this.listener.grew();
        if (full && wasEmpty && full.length) this.listener.status();
      }
    }
    if (newKey) this.listener.status();
  }
}

function toNum(v: number | string): number {
  return toNumber(v) ?? Number.NaN;
}
