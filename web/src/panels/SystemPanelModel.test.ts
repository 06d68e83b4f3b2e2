import { describe, expect, it } from "vitest";
import { MAX_POINTS, appendPoints, fmtSys, fromBuckets, lastValue, ranksOf, sortSysKeys, sysMeta } from "./SystemPanelModel";

describe("system panel model", () => {
  it("labels host, process and per-GPU keys", () => {
    expect(sysMeta("sys/cpu_percent")).toMatchObject({ group: "host", label: "cpu", unit: "%", min: 0, max: 100 });
    expect(sysMeta("sys/proc_rss_gb")).toMatchObject({ group: "process", unit: "GB" });
    expect(sysMeta("sys/gpu1/util")).toMatchObject({ group: "GPU 1", label: "util", unit: "%" });
    expect(sysMeta("sys/gpu0/mem_used")).toMatchObject({ group: "GPU 0", unit: "B" });
    expect(sysMeta("sys/whatever_mbps")).toMatchObject({ group: "host", unit: "MB/s" });
    expect(sortSysKeys(["sys/gpu1/util", "sys/proc_rss_gb", "sys/gpu0/temp_c", "sys/mem_percent", "sys/cpu_percent", "sys/gpu0/util"])).toEqual([
      "sys/cpu_percent",
      "sys/mem_percent",
      "sys/proc_rss_gb",
      "sys/gpu0/util",
      "sys/gpu0/temp_c",
      "sys/gpu1/util",
    ]);
  });

  it("groups the series of a run of several ranks per rank", () => {
    expect(sysMeta("sys/rank1/cpu_percent")).toMatchObject({ group: "rank 1", label: "cpu", unit: "%", min: 0, max: 100, rank: 1 });
    expect(sysMeta("sys/rank1/gpu0/util")).toMatchObject({ group: "rank 1", label: "GPU 0 util", unit: "%", rank: 1 });
    expect(sysMeta("sys/rank0/gpu1/mem_used")).toMatchObject({ group: "rank 0", label: "GPU 1 mem used", unit: "B" });
    expect(sysMeta("sys/rank12/proc_rss_gb")).toMatchObject({ group: "rank 12", label: "proc rss", unit: "GB" });
    // a single-process run is unchanged
    expect(sysMeta("sys/gpu0/util")).toMatchObject({ group: "GPU 0", label: "util", rank: null });
    const keys = ["sys/rank10/cpu_percent", "sys/rank1/gpu0/util", "sys/rank0/gpu0/util", "sys/rank1/cpu_percent", "sys/rank2/mem_percent", "sys/rank0/cpu_percent"];
    expect(sortSysKeys(keys)).toEqual([
      "sys/rank0/cpu_percent",
      "sys/rank0/gpu0/util",
      "sys/rank1/cpu_percent",
      "sys/rank1/gpu0/util",
      "sys/rank2/mem_percent",
      "sys/rank10/cpu_percent",
    ]);
    expect(ranksOf(keys)).toEqual([0, 1, 2, 10]);
    expect(ranksOf(["sys/cpu_percent", "sys/gpu0/util"])).toEqual([]);
  });

  it("merges buckets then live points by step, without duplicates", () => {
    const b = {
      first_step: [0, 2],
      last_step: [1, 3],
      first_time: [0, 0],
      last_time: [0, 0],
      count: [2, 2],
      min: [1, 3],
      max: [2, 4],
      mean: [1.5, 3.5],
      last: [2, "NaN" as const],
      nan: [0, 1],
      pinf: [0, 0],
      ninf: [0, 0],
    };
    const s = fromBuckets(b);
    expect(s).toEqual({ steps: [1, 3], values: [2, 3.5] });
    const t = appendPoints(s, [
      [3, 0, 9],
      [4, 0, 5],
      [4, 0, 6],
      [5, 0, "Infinity"],
    ]);
    expect(t.steps).toEqual([1, 3, 4, 5]);
    expect(t.values).toEqual([2, 3.5, 5, Infinity]);
    expect(lastValue(t)).toBe(5);
    expect(lastValue(undefined)).toBeNull();
    const many = appendPoints(undefined, Array.from({ length: 500 }, (_, i) => [i, 0, i] as [number, number, number]));
    expect(many.steps.length).toBe(MAX_POINTS);
    expect(many.steps[MAX_POINTS - 1]).toBe(499);
  });

  it("formats values", () => {
    expect(fmtSys(12.345, "%")).toBe("12.3%");
    expect(fmtSys(null, "%")).toBe("—");
    expect(fmtSys(0.59, "GB")).toBe("0.59 GB");
  });
});
