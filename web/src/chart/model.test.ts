import { describe, expect, it } from "vitest";
import type { BucketColumns } from "../api/client";
import {
  BucketSeries,
  buildData,
  chooseKey,
  defaultKey,
  ema,
  pickerKeys,
  lowerBound,
  newBuildCache,
  unionSorted,
  yRange,
  type RunDraw,
} from "./model";

function cols(rows: Array<[number, number, number | null, number | null, number | null, number, number?, number?, number?]>): BucketColumns {
  // [first_step, last_step, min, max, mean, count, nan, pinf, ninf]
  return {
    first_step: rows.map((r) => r[0]),
    last_step: rows.map((r) => r[1]),
    first_time: rows.map((r) => 1000 + r[0]),
    last_time: rows.map((r) => 1000 + r[1]),
    count: rows.map((r) => r[5]),
    min: rows.map((r) => r[2]),
    max: rows.map((r) => r[3]),
    mean: rows.map((r) => r[4]),
    last: rows.map((r) => r[4] ?? "NaN"),
    nan: rows.map((r) => r[6] ?? 0),
    pinf: rows.map((r) => r[7] ?? 0),
    ninf: rows.map((r) => r[8] ?? 0),
  };
}

/** A series from single points, every point its own bucket (width 0). */
function fromPoints(values: number[], target = 1000): BucketSeries {
  const s = new BucketSeries("step", target);
  values.forEach((v, i) => s.append(i, 1000 + i, v));
  return s;
}

describe("BucketSeries.load", () => {
  it("reads the server's columns, nulls and non-finite strings included", () => {
    const c = cols([
      [0, 9, 1, 3, 2, 10],
      [10, 19, null, null, null, 2, 1, 1, 0],
    ]);
    c.last[1] = "Infinity";
    const s = BucketSeries.fromColumns(c, "step", 4);
    expect(s.length).toBe(2);
    expect(s.mean[0]).toBe(2);
    expect(Number.isNaN(s.mean[1]!)).toBe(true);
    expect(Number.isNaN(s.min[1]!)).toBe(true);
    expect(s.last[1]).toBe(Number.POSITIVE_INFINITY);
    expect(s.lastStep).toBe(19);
    expect(s.points).toBe(12);
    expect(s.width).toBeCloseTo(19 / 4);
    expect(s.finiteCount(1)).toBe(0);
  });

  it("uses time as x on the time axis", () => {
    const s = BucketSeries.fromColumns(cols([[0, 9, 1, 1, 1, 10]]), "time");
    expect(s.x0(0)).toBe(1000);
    expect(s.x1(0)).toBe(1009);
    expect(s.xMid(0)).toBe(1004.5);
  });

  it("an empty read is an empty series", () => {
    const s = BucketSeries.fromColumns(null);
    expect(s.length).toBe(0);
    expect(s.lastStep).toBe(Number.NEGATIVE_INFINITY);
  });
});

describe("BucketSeries.append", () => {
  it("extends the last bucket within its width, else starts a new one", () => {
    const s = BucketSeries.fromColumns(cols([[0, 9, 1, 3, 2, 10]]), "step", 1);
    s.width = 10;
    expect(s.append(10, 1010, 5)).toBe(true); // x - x0 = 10: new bucket
    expect(s.length).toBe(2);
    s.append(11, 1011, -1);
    expect(s.length).toBe(2);
    expect(s.s1[1]).toBe(11);
    expect(s.count[1]).toBe(2);
    expect(s.min[1]).toBe(-1);
    expect(s.max[1]).toBe(5);
    expect(s.mean[1]).toBe(2);
    expect(s.last[1]).toBe(-1);
    expect(s.t1[1]).toBe(1011);
  });

  it("dedupes points at a step already held", () => {
    const s = BucketSeries.fromColumns(cols([[0, 9, 1, 3, 2, 10]]), "step", 10);
    expect(s.append(9, 0, 100)).toBe(false);
    expect(s.append(3, 0, 100)).toBe(false);
    expect(s.points).toBe(10);
    expect(s.max[0]).toBe(3);
    expect(s.append(10, 0, 100)).toBe(true);
    expect(s.append(10, 0, 100)).toBe(false);
    expect(s.points).toBe(11);
  });

  it("counts non-finite values without touching min/max/mean", () => {
    const s = new BucketSeries("step", 10);
    s.width = 100;
    s.append(0, 0, Number.NaN);
    expect(s.length).toBe(1);
    expect(Number.isNaN(s.mean[0]!)).toBe(true);
    s.append(1, 0, Number.POSITIVE_INFINITY);
    s.append(2, 0, Number.NEGATIVE_INFINITY);
    s.append(3, 0, 4);
    s.append(4, 0, 2);
    expect(s.length).toBe(1);
    expect([s.nan[0], s.pinf[0], s.ninf[0], s.count[0]]).toEqual([1, 1, 1, 5]);
    expect([s.min[0], s.max[0], s.mean[0]]).toEqual([2, 4, 3]);
    expect(s.finiteCount(0)).toBe(2);
    s.append(5, 0, Number.NaN);
    expect(Number.isNaN(s.last[0]!)).toBe(true);
    expect(s.mean[0]).toBe(3);
  });

  it("keeps the time axis's width in seconds", () => {
    const s = new BucketSeries("time", 10);
    s.width = 5;
    s.append(0, 100, 1);
    s.append(1, 104, 1);
    s.append(2, 105, 1);
    expect(s.length).toBe(2);
    expect(s.count).toEqual([2, 1]);
  });
});

describe("bucket merging", () => {
  it("merges adjacent pairs exactly once past twice the target", () => {
    const s = fromPoints([1, 2, 3, 4], 2);
    expect(s.length).toBe(4);
    s.append(4, 1004, 5); // 5 buckets > 2*2: merge → [1,2] [3,4] [5]
    expect(s.length).toBe(3);
    expect(s.s0).toEqual([0, 2, 4]);
    expect(s.s1).toEqual([1, 3, 4]);
    expect(s.t0).toEqual([1000, 1002, 1004]);
    expect(s.t1).toEqual([1001, 1003, 1004]);
    expect(s.min).toEqual([1, 3, 5]);
    expect(s.max).toEqual([2, 4, 5]);
    expect(s.mean).toEqual([1.5, 3.5, 5]);
    expect(s.last).toEqual([2, 4, 5]);
    expect(s.count).toEqual([2, 2, 1]);
    expect(s.points).toBe(5);
    expect(s.width).toBeGreaterThan(0);
  });

  it("weights the mean by finite counts and sums non-finite counts", () => {
    const s = BucketSeries.fromColumns(
      cols([
        [0, 9, 0, 10, 1, 10], // mean 1 over 10
        [10, 29, -5, 3, 4, 20, 2, 1, 2], // mean 4 over 15 finite
        [30, 39, null, null, null, 3, 3], // no finite
        [40, 49, 7, 7, 7, 1],
        [50, 59, 8, 9, 8.5, 2, 0, 0, 1],
      ]),
      "step",
      10,
    );
    s.mergePairs();
    expect(s.length).toBe(3);
    expect(s.mean[0]).toBeCloseTo((1 * 10 + 4 * 15) / 25);
    expect(s.min[0]).toBe(-5);
    expect(s.max[0]).toBe(10);
    expect(s.count[0]).toBe(30);
    expect([s.nan[0], s.pinf[0], s.ninf[0]]).toEqual([2, 1, 2]);
    // an all-NaN bucket merged with a finite one takes the finite one's stats
    expect([s.min[1], s.max[1], s.mean[1]]).toEqual([7, 7, 7]);
    expect(s.nan[1]).toBe(3);
    expect(s.count[1]).toBe(4);
    expect(s.last[1]).toBe(7);
    // odd bucket out stays as it was
    expect([s.s0[2], s.s1[2], s.mean[2], s.ninf[2]]).toEqual([50, 59, 8.5, 1]);
  });

  it("two all-non-finite buckets merge into one with no finite stats", () => {
    const s = BucketSeries.fromColumns(cols([[0, 0, null, null, null, 1, 1], [1, 1, null, null, null, 1, 0, 1]]));
    s.mergePairs();
    expect(s.length).toBe(1);
    expect(Number.isNaN(s.mean[0]!)).toBe(true);
    expect(Number.isNaN(s.min[0]!)).toBe(true);
    expect([s.nan[0], s.pinf[0], s.count[0]]).toEqual([1, 1, 2]);
  });

  it("a long live stream stays within twice the target and keeps every point", () => {
    const s = new BucketSeries("step", 100);
    let sum = 0;
    let mn = Infinity;
    let mx = -Infinity;
    for (let i = 0; i < 100_000; i++) {
      const v = Math.sin(i / 100) * 10 + (i % 7);
      s.append(i, i / 10, v);
      sum += v;
      mn = Math.min(mn, v);
      mx = Math.max(mx, v);
    }
    expect(s.length).toBeLessThanOrEqual(200);
    expect(s.length).toBeGreaterThan(50);
    expect(s.points).toBe(100_000);
    expect(Math.min(...s.min)).toBe(mn);
    expect(Math.max(...s.max)).toBe(mx);
    let total = 0;
    for (let i = 0; i < s.length; i++) total += s.mean[i]! * s.count[i]!;
    expect(total).toBeCloseTo(sum, 3);
    // contiguous, ordered, no overlap
    for (let i = 1; i < s.length; i++) expect(s.s0[i]).toBe(s.s1[i - 1]! + 1);
  });
});

describe("splice (zoomed read)", () => {
  it("replaces the coarse buckets of the window with the fine ones", () => {
    const coarse = BucketSeries.fromColumns(
      cols([
        [0, 99, 0, 1, 0.5, 100],
        [100, 199, 0, 1, 0.5, 100],
        [200, 299, 0, 1, 0.5, 100],
        [300, 399, 0, 1, 0.5, 100],
      ]),
      "step",
      4,
    );
    const fine = BucketSeries.fromColumns(
      cols([
        [100, 149, 0, 1, 0.2, 50],
        [150, 199, 0, 1, 0.8, 50],
        [200, 249, 0, 1, 0.3, 50],
      ]),
    );
    const v = coarse.splice(fine, 100, 249);
    expect(v.s0).toEqual([0, 100, 150, 200, 300]);
    expect(v.mean).toEqual([0.5, 0.2, 0.8, 0.3, 0.5]);
    expect(v.lastStep).toBe(399);
    // live points go on at the end
    expect(v.append(400, 0, 1)).toBe(true);
    expect(v.lastStep).toBe(400);
  });
});

describe("ema", () => {
  it("is debiased like TensorBoard's", () => {
    const out = ema([1, 1, 1], 0.9);
    expect(Array.from(out)).toEqual([1, 1, 1].map(() => expect.closeTo(1, 10)));
    const o = ema([0, 10], 0.5);
    // acc: 0 → 5; debias: 0/(0.5) = 0, 5/(0.75)
    expect(o[0]).toBe(0);
    expect(o[1]).toBeCloseTo(5 / 0.75);
  });

  it("skips non-finite values", () => {
    const o = ema([2, Number.NaN, Number.POSITIVE_INFINITY, 2], 0.6);
    expect(o[0]).toBeCloseTo(2);
    expect(Number.isNaN(o[1]!)).toBe(true);
    expect(Number.isNaN(o[2]!)).toBe(true);
    expect(o[3]).toBeCloseTo(2);
  });

  it("weight 0 is the identity", () => {
    expect(Array.from(ema([3, -1, 7], 0))).toEqual([3, -1, 7]);
  });
});

describe("buildData", () => {
  it("gives each run its own x and marks non-finite buckets", () => {
    const a = fromPoints([1, Number.NaN, 3]);
    const b = new BucketSeries("step", 10);
    b.append(1, 0, Number.POSITIVE_INFINITY);
    b.append(3, 0, -2);
    b.append(4, 0, Number.NEGATIVE_INFINITY);
    const built = buildData(
      [
        { runId: "a", series: a },
        { runId: "b", series: b },
      ],
      0,
      false,
    );
    const [ra, rb] = built.runs as [RunDraw, RunDraw];
    expect(Array.from(ra.x)).toEqual([0, 1, 2]);
    expect(Array.from(ra.line)).toEqual([1, Number.NaN, 3]);
    expect(ra.raw).toBe(null);
    expect(Array.from(rb.x)).toEqual([1, 3, 4]);
    expect(Array.from(rb.line)).toEqual([Number.NaN, -2, Number.NaN]);
    expect(built.points).toBe(6);
    expect(built.lastStep).toBe(4);
    expect([built.xMin, built.xMax]).toEqual([0, 4]);
    expect(ra.nan).toEqual([1]);
    expect(rb.pinf).toEqual([1]);
    expect(rb.ninf).toEqual([4]);
  });

  it("smooths the line and keeps the raw mean; log scale drops values ≤ 0", () => {
    const a = fromPoints([1, 3, -1]);
    const built = buildData([{ runId: "a", series: a }], 0.5, true);
    const r = built.runs[0]!;
    expect(Array.from(r.raw!)).toEqual([1, 3, Number.NaN]);
    expect(r.line[0]).toBeCloseTo(1);
    expect(r.line[1]).toBeCloseTo((0.5 * 0.5 + 0.5 * 3) / 0.75);
    expect(r.line[2]).toBeCloseTo(0.375 / 0.875); // the smoothed value is positive, so kept
    const nolog = buildData([{ runId: "a", series: a }], 0, false);
    expect(Array.from(nolog.runs[0]!.line)).toEqual([1, 3, -1]);
    expect(Array.from(nolog.runs[0]!.lo)).toEqual([1, 3, -1]);
  });

  it("a painter's cache draws what a fresh build draws, through live points, merges, reads and catch-ups", () => {
    // a small deterministic generator: the same sequence at every run
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    const value = () => {
      const r = rnd();
      return r < 0.05 ? Number.NaN : r < 0.08 ? Number.POSITIVE_INFINITY : r < 0.1 ? Number.NEGATIVE_INFINITY : (rnd() - 0.3) * 10;
    };
    const same = (a: ArrayLike<number>, b: ArrayLike<number>) => expect(Array.from(a)).toEqual(Array.from(b));
    for (const log of [false, true]) {
      const cache = newBuildCache();
      const a = new BucketSeries("step", 16);
      const b = fromPoints([1, 2, 3], 16);
      let step = 0;
      let drawn = 0;
      let longest = 0;
      for (let k = 0; k < 600; k++) {
        const r = rnd();
        if (r < 0.7) {
          a.width = rnd() < 0.5 ? 0 : 3; // a new bucket, or the last one extended
          step += 1 + Math.floor(rnd() * 2);
          a.append(step, 1000 + step, value());
        } else if (r < 0.75) {
          const c = fromPoints([value(), value(), value()], 16);
          c.s0 = c.s0.map((v) => v + step + 1);
          c.s1 = c.s1.map((v) => v + step + 1);
          a.appendBucketsAfter(c); // a read's buckets after the held ones
          step = a.lastStep;
        } else if (r < 0.78) {
          a.load(cols([[0, 4, -1, 2, 0.5, 5, 1], [5, 9, 1, 3, 2, 5]])); // a new read
          step = 9;
        } else if (r < 0.8) {
          a.mergePairs();
        }
        longest = Math.max(longest, a.length);
        if (rnd() < 0.15) continue; // drawn some other time: several changes at once
        drawn++;
        const runs = [{ runId: "a", series: a }, { runId: "b", series: b }];
        const cached = buildData(runs, 0, log, cache);
        const fresh = buildData(runs, 0, log);
        expect([cached.points, cached.lastStep, cached.xMin, cached.xMax]).toEqual([fresh.points, fresh.lastStep, fresh.xMin, fresh.xMax]);
        for (let i = 0; i < 2; i++) {
          const c = cached.runs[i]!;
          const f = fresh.runs[i]!;
          same(c.x, f.x);
          same(c.line, f.line);
          same(c.lo, f.lo);
          same(c.hi, f.hi);
          expect([c.nan, c.pinf, c.ninf, c.raw]).toEqual([f.nan, f.pinf, f.ninf, f.raw]);
        }
      }
      expect(drawn).toBeGreaterThan(400);
      expect(longest).toBeGreaterThan(24); // past the room a first build leaves (it grew)
    }
  });

  it("a painter's cache keeps an unchanged run's drawing, and smoothing still builds afresh", () => {
    const cache = newBuildCache();
    const a = fromPoints([1, 2, 3]);
    const b = fromPoints([4, 5, 6]);
    const runs = [{ runId: "a", series: a }, { runId: "b", series: b }];
    const first = buildData(runs, 0, false, cache);
    a.append(3, 1003, 7);
    const second = buildData(runs, 0, false, cache);
    expect(second.runs[1]).toBe(first.runs[1]); // b did not change: nothing built
    expect(Array.from(second.runs[0]!.line)).toEqual([1, 2, 3, 7]);
    const smooth = buildData(runs, 0.5, false, cache);
    expect(Array.from(smooth.runs[0]!.raw!)).toEqual([1, 2, 3, 7]);
    expect(smooth.runs[0]!.line[3]).not.toBe(7);
    expect(buildData(runs, 0, true, cache).runs[0]).not.toBe(second.runs[0]); // another scale: built for it
  });

  it("nothing drawn: lastStep -1", () => {
    const e = buildData([], 0, false);
    expect(e.lastStep).toBe(-1);
    expect(Number.isNaN(e.xMin)).toBe(true);
    expect(buildData([{ runId: "a", series: new BucketSeries() }], 0, false).points).toBe(0);
  });

  it("yRange covers the visible band and line, padded", () => {
    const s = BucketSeries.fromColumns(
      cols([
        [0, 9, -10, 10, 0, 10],
        [10, 19, 1, 2, 1.5, 10],
        [20, 29, 2, 4, 3, 10],
        [30, 39, null, null, null, 1, 1],
      ]),
    );
    const built = buildData([{ runId: "a", series: s }], 0, false);
    const [lo, hi] = yRange(built.runs, -100, 100, false)!;
    expect(lo).toBeCloseTo(-11);
    expect(hi).toBeCloseTo(11);
    // window over the later buckets (one neighbour either side is included)
    const [l2, h2] = yRange(built.runs, 24, 40, false)!;
    expect(l2).toBeCloseTo(1 - 0.15);
    expect(h2).toBeCloseTo(4 + 0.15);
    expect(yRange([], 0, 1, false)).toBe(null);
    // a constant, and one that differs only by rounding (smoothed), get a usable span
    const flat = (v: number[]) => {
      const a = Float64Array.from(v);
      return { x: Float64Array.from(v.map((_, i) => i)), line: a, raw: null, lo: a, hi: a, nan: [], pinf: [], ninf: [] };
    };
    expect(yRange([flat([1, 1])], 0, 1, false)).toEqual([0.9, 1.1]);
    const [l3, h3] = yRange([flat([0.9999999999999999, 1])], 0, 1, false)!;
    expect(h3 - l3).toBeGreaterThan(0.1);
    expect(lowerBound([1, 2, 3], 2.5)).toBe(2);
  });
});

describe("keys", () => {
  it("lists the union sorted, sys/ keys only when asked", () => {
    expect(pickerKeys(["loss", "sys/cpu", "acc", "loss"], false)).toEqual(["acc", "loss"]);
    expect(pickerKeys(["loss", "sys/cpu"], true)).toEqual(["loss", "sys/cpu"]);
  });

  it("defaults chart A to loss and chart B to lr or another key", () => {
    expect(defaultKey("chartA", ["acc", "loss", "lr"])).toBe("loss");
    expect(defaultKey("chartA", ["acc", "train/loss_x"])).toBe("train/loss_x");
    expect(defaultKey("chartA", ["acc"])).toBe("acc");
    expect(defaultKey("chartB", ["acc", "loss", "lr"])).toBe("lr");
    expect(defaultKey("chartB", ["acc", "loss", "sys/cpu"])).toBe("acc");
    expect(defaultKey("chartB", ["loss"])).toBe("loss");
    expect(defaultKey("chartA", [])).toBe(null);
  });

  it("keeps a remembered key the runs have", () => {
    expect(chooseKey("chartA", ["acc", "loss"], "acc")).toBe("acc");
    expect(chooseKey("chartA", ["loss"], "acc")).toBe("loss");
    expect(chooseKey("chartA", [], "acc")).toBe("acc");
    expect(chooseKey("chartB", [], null)).toBe("lr");
  });

  it("unionSorted dedupes", () => {
    expect(Array.from(unionSorted([[1, 3, 5], [2, 3, 6], []]))).toEqual([1, 2, 3, 5, 6]);
  });
});

describe("lookups", () => {
  it("nearest finds the bucket under the cursor", () => {
    const s = fromPoints([1, 2, 3, 4]);
    expect(s.nearest(-5)).toBe(0);
    expect(s.nearest(1.4)).toBe(1);
    expect(s.nearest(1.6)).toBe(2);
    expect(s.nearest(99)).toBe(3);
    expect(new BucketSeries().nearest(1)).toBe(-1);
  });

  it("appendBucketsAfter copies only newer buckets", () => {
    const a = fromPoints([1, 2]);
    const b = fromPoints([1, 2, 3, 4]);
    a.appendBucketsAfter(b);
    expect(a.s0).toEqual([0, 1, 2, 3]);
    expect(a.mean).toEqual([1, 2, 3, 4]);
  });
});

describe("logSplits", () => {
  it("gives decades over wide ranges and 1-2-5 over narrow ones", async () => {
    const { logSplits } = await import("./controller-axes");
    expect(logSplits(0.001, 10)).toEqual([0.001, 0.01, 0.1, 1, 10]);
    expect(logSplits(0.3, 6)).toEqual([0.5, 1, 2, 5]);
    expect(logSplits(0, 1)).toEqual([]);
  });
});

describe("REST read + pushed points", () => {
  it("points pushed while the read was in flight merge without holes or duplicates", () => {
    // the read covers steps 0..99 as 10 buckets; meanwhile steps 95..104 were pushed
    const rows: Array<[number, number, number, number, number, number]> = [];
    for (let b = 0; b < 10; b++) rows.push([b * 10, b * 10 + 9, b, b + 1, b + 0.5, 10]);
    const s = BucketSeries.fromColumns(cols(rows), "step", 10);
    const pushed: Array<[number, number, number]> = [];
    for (let st = 95; st < 105; st++) pushed.push([st, 1000 + st, 42]);
    let added = 0;
    for (const [st, t, v] of pushed) if (s.append(st, t, v)) added++;
    expect(added).toBe(5);
    expect(s.points).toBe(105);
    expect(s.lastStep).toBe(104);
    // width 9.9: 100..104 start one new bucket
    expect(s.length).toBe(11);
    expect(s.count[10]).toBe(5);
    expect(s.max[10]).toBe(42);
  });
});
