import { describe, expect, it } from "vitest";
import type { BucketColumns } from "../api/client";
import type { BucketQuery } from "../chart/feed";
import { Prefetch } from "./prefetch";

type RunBuckets = Map<string, BucketColumns | null>;

/** Buckets of a series whose last step is `last`. */
function upTo(last: number): BucketColumns {
  return {
    first_step: [0],
    last_step: [last],
    first_time: [1000],
    last_time: [1000 + last],
    count: [last + 1],
    min: [0],
    max: [1],
    mean: [0.5],
    last: [1],
    nan: [0],
    pinf: [0],
    ninf: [0],
  };
}

const q = (key: string, n = 200): BucketQuery => ({ runs: ["r1", "r2"], key, axis: "step", n, win: null });

/** A reader that answers every run up to `last` and counts its reads. */
function reader(last = 99) {
  const reads: BucketQuery[] = [];
  const read = async (x: BucketQuery, signal: AbortSignal): Promise<RunBuckets> => {
    reads.push(x);
    await Promise.resolve();
    if (signal.aborted) throw new DOMException("aborted", "AbortError");
    return new Map(x.runs.map((r) => [r, upTo(last)]));
  };
  return { reads, read };
}

describe("Prefetch", () => {
  it("hands the read sent when the cell showed to its chart, once", async () => {
    const { reads, read } = reader();
    const p = new Prefetch(read, () => undefined);
    p.start(q("loss"));
    p.start(q("loss")); // the same read is not sent twice
    expect(reads).toHaveLength(1);
    let again = 0;
    const got = await p.take(q("loss"), new AbortController().signal, async () => (again++, new Map()));
    expect(got?.get("r1")?.last_step).toEqual([99]);
    expect(again).toBe(0);
    expect(p.take(q("loss"), new AbortController().signal, async () => new Map())).toBeNull();
  });

  it("is not used for another read (the chart's size changed)", () => {
    const { read } = reader();
    const p = new Prefetch(read, () => undefined);
    p.start(q("loss", 200));
    expect(p.take(q("loss", 300), new AbortController().signal, async () => new Map())).toBeNull();
  });

  it("reads again when a point of the key was pushed after it went out", () => {
    const { read } = reader();
    const p = new Prefetch(read, () => undefined);
    p.start(q("loss"));
    p.start(q("acc"));
    p.pushed("r2", ["loss"]);
    p.pushed("other-run", ["acc"]);
    expect(p.take(q("loss"), new AbortController().signal, async () => new Map())).toBeNull();
    expect(p.take(q("acc"), new AbortController().signal, async () => new Map())).not.toBeNull();
  });

  it("reads again when the subscription started past the read's last step", async () => {
    const { read } = reader(99);
    const acked: Record<string, number> = { r1: 99, r2: 120 };
    const p = new Prefetch(read, (r, k) => (k === "loss" ? acked[r] : undefined));
    p.start(q("loss"));
    const fresh = new Map([["r1", upTo(120)], ["r2", upTo(120)]]);
    const got = await p.take(q("loss"), new AbortController().signal, async () => fresh);
    expect(got).toBe(fresh);
  });

  it("aborts a read nobody takes when its cell goes", async () => {
    const { read } = reader();
    const p = new Prefetch(read, () => undefined);
    p.start(q("loss"));
    p.drop("loss");
    expect(p.size).toBe(0);
    expect(p.take(q("loss"), new AbortController().signal, async () => new Map())).toBeNull();
  });

  it("rejects when the chart's read is aborted", async () => {
    const { read } = reader();
    const p = new Prefetch(read, () => undefined);
    p.start(q("loss"));
    const abort = new AbortController();
    const got = p.take(q("loss"), abort.signal, async () => new Map());
    abort.abort();
    await expect(got).rejects.toThrow();
  });
});
