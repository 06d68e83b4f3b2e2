import { describe, expect, it } from "vitest";
import { bandAlpha, buildData, BucketSeries, yRange } from "./model";
import { axisTitles, unitOf, yTitle } from "./units";

describe("axis titles and units", () => {
  it("reads a unit from the key's name", () => {
    expect(unitOf("sys/step_time_ms")).toBe("ms");
    expect(unitOf("train/epoch_s")).toBe("s");
    expect(unitOf("sys/gpu0/mem_gb")).toBe("GiB");
    expect(unitOf("sys/gpu0/util")).toBe("%");
    expect(unitOf("throughput[tok/s]")).toBe("tok/s");
    expect(unitOf("train/lr")).toBe("lr");
    expect(unitOf("train/loss")).toBeNull();
    expect(unitOf("class")).toBeNull(); // no `_c` suffix: not °C
  });

  it("titles x by the axis and y by the key, with its unit when the key does not already end in it", () => {
    expect(axisTitles("step", "sys/step_time_ms")).toEqual({ x: "step", y: "sys/step_time_ms (ms)" });
    expect(axisTitles("time", "loss")).toEqual({ x: "time", y: "loss" });
    expect(yTitle("throughput[tok/s]")).toBe("throughput[tok/s]");
    expect(yTitle("lr")).toBe("lr");
  });
});

describe("log scale: the min/max band does not swamp the line", () => {
  // a noisy series: the line near 1, but each bucket's min reaches 1e-6
  const s = new BucketSeries("step");
  for (let i = 0; i < 50; i++) {
    s.s0.push(i); s.s1.push(i); s.t0.push(i); s.t1.push(i);
    s.mean.push(1 + (i % 3) * 0.1); s.last.push(1); s.min.push(1e-6); s.max.push(2);
    s.count.push(10); s.nan.push(0); s.pinf.push(0); s.ninf.push(0);
  }
  const built = buildData([{ runId: "a", series: s }], 0, true);

  it("the band may widen a log scale by half a decade beyond the line, no more", () => {
    const [lo, hi] = yRange(built.runs, 0, 49, true)!;
    expect(lo).toBeGreaterThan(0.2); // not 1e-6: the line keeps the plot's height
    expect(lo).toBeLessThan(1);
    expect(hi).toBeGreaterThanOrEqual(2);
    // linear scale: the band counts in full
    const lin = buildData([{ runId: "a", series: s }], 0, false);
    expect(yRange(lin.runs, 0, 49, false)![0]).toBeLessThan(0);
  });

  it("a tall band fades in log scale; linear keeps its opacity", () => {
    expect(bandAlpha(false, 200, 200)).toBeCloseTo(0.14);
    expect(bandAlpha(true, 10, 200)).toBeCloseTo(0.14); // thin: as usual
    expect(bandAlpha(true, 200, 200)).toBeCloseTo(0.028); // fills the plot: a fifth
    expect(bandAlpha(true, 40, 200)).toBeCloseTo(0.07);
  });
});
