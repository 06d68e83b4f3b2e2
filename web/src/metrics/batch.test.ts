import { describe, expect, it } from "vitest";
import { ApiError, type BucketColumns } from "../api/client";
import type { BucketQuery } from "../chart/feed";
import { STEP_FIELDS, withTimes } from "../chart/feed";
import { BucketBatch, MAX_KEYS, type ManyQuery, type RunBuckets } from "./batch";

/** One bucket holding `v`. */
function one(v: number): BucketColumns {
  return {
    first_step: [0],
    last_step: [0],
    first_time: [1000],
    last_time: [1000],
    count: [1],
    min: [v],
    max: [v],
    mean: [v],
    last: [v],
    nan: [0],
    pinf: [0],
    ninf: [0],
  };
}

/** An in-memory server: key `k<i>` has the value i in every run but `gone` runs. */
function memoryServer(gone: string[] = []) {
  const requests: ManyQuery[] = [];
  const singles: BucketQuery[] = [];
  const answer = (key: string, runs: string[]): RunBuckets =>
    new Map(runs.map((r) => [r, gone.includes(r) ? null : one(Number(key.slice(1)))]));
  const many = async (q: ManyQuery, signal: AbortSignal) => {
    requests.push(q);
    await Promise.resolve();
    if (signal.aborted) throw new DOMException("aborted", "AbortError");
    if (q.runs.some((r) => gone.includes(r))) throw new ApiError(404, "not_found", "no run");
    return new Map(q.keys.map((k) => [k, answer(k, q.runs)]));
  };
  const single = async (q: BucketQuery) => {
    singles.push(q);
    return answer(q.key, q.runs);
  };
  return { requests, singles, batch: new BucketBatch(many, single) };
}

const q = (key: string, more: Partial<BucketQuery> = {}): BucketQuery => ({
  runs: ["a", "b"],
  key,
  axis: "step",
  n: 300,
  win: null,
  ...more,
});

const tick = () => new Promise((r) => setTimeout(r, 0));

describe("metrics grid: bucket reads coalesced", () => {
  it("answers the charts that read in the same task from one request", async () => {
    const s = memoryServer();
    const signal = new AbortController().signal;
    const reads = ["k1", "k2", "k3", "k2"].map((k) => s.batch.buckets(q(k), signal));
    const got = await Promise.all(reads);
    expect(s.requests).toHaveLength(1);
    expect(s.requests[0]!.keys).toEqual(["k1", "k2", "k3"]);
    expect(got.map((m) => m.get("b")?.max[0])).toEqual([1, 2, 3, 2]);
    // a read in a later task goes in another request
    await s.batch.buckets(q("k4"), signal);
    expect(s.requests).toHaveLength(2);
  });

  it("keeps reads of other runs, bucket counts, axes or windows apart", async () => {
    const s = memoryServer();
    const signal = new AbortController().signal;
    await Promise.all([
      s.batch.buckets(q("k1"), signal),
      s.batch.buckets(q("k2"), signal),
      s.batch.buckets(q("k1", { runs: ["a"] }), signal),
      s.batch.buckets(q("k1", { n: 100 }), signal),
      s.batch.buckets(q("k1", { axis: "time" }), signal),
      s.batch.buckets(q("k1", { win: { min: 5, max: 9 } }), signal),
      s.batch.buckets(q("k2", { win: { min: 5, max: 9 } }), signal),
    ]);
    expect(s.requests.map((r) => r.keys.length)).toEqual([2, 1, 1, 1, 2]);
    expect(s.requests[4]!.win).toEqual({ min: 5, max: 9 });
  });

  it("names at most MAX_KEYS keys a request", async () => {
    const s = memoryServer();
    const signal = new AbortController().signal;
    const n = MAX_KEYS * 2 + 1;
    await Promise.all(Array.from({ length: n }, (_, i) => s.batch.buckets(q(`k${i}`), signal)));
    expect(s.requests.map((r) => r.keys.length)).toEqual([MAX_KEYS, MAX_KEYS, 1]);
  });

  it("drops an aborted read, and the request once no chart wants it", async () => {
    const s = memoryServer();
    const gone = new AbortController();
    const kept = new AbortController();
    const a = s.batch.buckets(q("k1"), gone.signal);
    const b = s.batch.buckets(q("k2"), kept.signal);
    gone.abort();
    await expect(a).rejects.toThrow(/aborted/);
    expect((await b).get("a")?.max[0]).toBe(2);
    expect(s.requests[0]!.keys).toEqual(["k2"]); // aborted before the request left

    const c = s.batch.buckets(q("k3"), gone.signal);
    await expect(c).rejects.toThrow(/aborted/); // already aborted: never queued

    // in flight: the request is aborted once every chart waiting on it gave up
    let inFlight: AbortSignal | null = null;
    const slow = new BucketBatch(
      (_, signal) =>
        new Promise((_resolve, reject) => {
          inFlight = signal;
          signal.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
        }),
    );
    const [x, y] = [new AbortController(), new AbortController()];
    const d = slow.buckets(q("k4"), x.signal);
    const e = slow.buckets(q("k5"), y.signal);
    await tick(); // the request left
    x.abort();
    await expect(d).rejects.toThrow(/aborted/);
    expect(inFlight!.aborted).toBe(false); // k5 still wants it
    y.abort();
    await expect(e).rejects.toThrow(/aborted/);
    expect(inFlight!.aborted).toBe(true);
  });

  it("reads key by key when a run of the batch is gone (each read then goes run by run)", async () => {
    const s = memoryServer(["b"]);
    const signal = new AbortController().signal;
    const [x, y] = await Promise.all([s.batch.buckets(q("k1"), signal), s.batch.buckets(q("k2"), signal)]);
    expect(s.singles.map((r) => r.key)).toEqual(["k1", "k2"]);
    expect(x.get("a")?.max[0]).toBe(1);
    expect(y.get("b")).toBeNull();
  });

  it("fails every read of a request the server did not answer (each chart retries)", async () => {
    const batch = new BucketBatch(async () => {
      throw new TypeError("Failed to fetch");
    });
    const signal = new AbortController().signal;
    const reads = [batch.buckets(q("k1"), signal), batch.buckets(q("k2"), signal)];
    for (const r of reads) await expect(r).rejects.toThrow("Failed to fetch");
  });

  it("rejects what waits when the grid goes away", async () => {
    const s = memoryServer();
    const r = s.batch.buckets(q("k1"), new AbortController().signal);
    s.batch.destroy();
    await expect(r).rejects.toThrow(/aborted/);
    await tick();
    expect(s.requests).toHaveLength(0);
  });
});

describe("metrics grid: bucket answers without their times", () => {
  it("fills the times a step-axis read leaves out with NaN, keeping every other column", () => {
    const full = one(2);
    const some = Object.fromEntries(STEP_FIELDS.map((f) => [f, full[f]]));
    const got = withTimes(some);
    expect(got.first_time.length).toBe(1);
    expect(Number.isNaN(got.first_time[0]!) && Number.isNaN(got.last_time[0]!)).toBe(true);
    expect({ ...got, first_time: full.first_time, last_time: full.last_time }).toEqual(full);
    expect(withTimes(full)).toEqual(full); // an answer with its times is kept as it is
  });
});
