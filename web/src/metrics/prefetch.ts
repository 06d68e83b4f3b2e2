// A grid cell's first bucket read, sent as soon as the cell comes into view rather than
// when its chart is created (charts are created over several frames, each after the
// server acknowledged the runs' subscriptions). The chart's feed then asks for exactly
// that read and is handed the answer already on its way, unless points may be missing
// from it: a point of that key was pushed after the read went out (the feed, created
// later, did not hear it), or the subscription's first cursor is past the read's last
// step (the read went out before the subscription started). Then the chart reads again,
// as it would have without the prefetch. A read nobody takes is aborted when its cell goes.
import type { BucketColumns } from "../api/client";
import type { BucketQuery } from "../chart/feed";

type RunBuckets = Map<string, BucketColumns | null>;
type Read = (q: BucketQuery, signal: AbortSignal) => Promise<RunBuckets>;
/** The newest step of `key` the run's subscription had when acknowledged (undefined: none). */
export type AckedStep = (runId: string, key: string) => number | undefined;

interface Pending {
  q: BucketQuery;
  sig: string;
  promise: Promise<RunBuckets>;
  abort: AbortController;
  /** A point of the key was pushed since the read went out. */
  pushed: boolean;
}

function signature(q: BucketQuery): string {
  return `${q.key}\u0000${q.runs.join(",")}|${q.axis}|${q.n}|${q.win ? `${q.win.min}:${q.win.max}` : ""}`;
}

function aborted(): Error {
  return new DOMException("the read was aborted", "AbortError");
}

/** Whether a read holds every point up to the subscriptions' first cursors. */
export function complete(res: RunBuckets, q: BucketQuery, acked: AckedStep): boolean {
  for (const r of q.runs) {
    const top = acked(r, q.key);
    if (top === undefined) continue;
    const b = res.get(r);
    const last = b && b.last_step.length ? b.last_step[b.last_step.length - 1]! : undefined;
    if (last === undefined || last < top) return false;
  }
  return true;
}

export class Prefetch {
  private byKey = new Map<string, Pending>();

  constructor(
    private readonly read: Read,
    private readonly acked: AckedStep,
  ) {}

  /** Read `q` now (unless the same read is already on its way). */
  start(q: BucketQuery): void {
    const sig = signature(q);
    const old = this.byKey.get(q.key);
    if (old?.sig === sig) return;
    old?.abort.abort();
    const abort = new AbortController();
    const promise = this.read(q, abort.signal);
    promise.catch(() => {}); // a failed or dropped prefetch: the chart reads itself
    this.byKey.set(q.key, { q, sig, promise, abort, pushed: false });
  }

  /** Points of these keys were pushed for a run: reads of them in flight may miss them. */
  pushed(runId: string, keys: Iterable<string>): void {
    for (const k of keys) {
      const p = this.byKey.get(k);
      if (p && p.q.runs.includes(runId)) p.pushed = true;
    }
  }

  /**
   * The read sent for exactly `q`, handed over once; `again` reads anew when it turns out
   * incomplete. Null when there is none to hand over (the caller reads itself).
   */
  take(q: BucketQuery, signal: AbortSignal, again: () => Promise<RunBuckets>): Promise<RunBuckets> | null {
    const p = this.byKey.get(q.key);
    if (!p) return null;
    this.byKey.delete(q.key);
    if (p.sig !== signature(q) || p.pushed) {
      p.abort.abort();
      return null;
    }
    if (signal.aborted) {
      p.abort.abort();
      return Promise.reject(aborted());
    }
    const onAbort = () => p.abort.abort();
    signal.addEventListener("abort", onAbort, { once: true });
    return p.promise.then(
      (res) => {
        signal.removeEventListener("abort", onAbort);
        if (signal.aborted) throw aborted();
        return complete(res, q, this.acked) && !p.pushed ? res : again();
      },
      (e: unknown) => {
        signal.removeEventListener("abort", onAbort);
        if (signal.aborted) throw aborted();
        throw e;
      },
    );
  }

  /** Forget (and abort) the read of a cell that left the view or the grid. */
  drop(key: string): void {
    this.byKey.get(key)?.abort.abort();
    this.byKey.delete(key);
  }

  clear(): void {
    for (const p of this.byKey.values()) p.abort.abort();
    this.byKey.clear();
  }

  get size(): number {
    return this.byKey.size;
  }
}
