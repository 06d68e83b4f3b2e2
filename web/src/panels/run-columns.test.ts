import { describe, expect, it } from "vitest";
import { fitHeight } from "../layout/fit";
import { anyProgress, chooseColumns, NAME_MIN_CH } from "./run-columns";

const CH = 7.2; // 12px monospace

/** The width in ch the name column gets at least (what the fixed columns leave). */
function nameRoom(width: number, cols: ReturnType<typeof chooseColumns>): number {
  const fixed: Record<string, number> = { check: 12 / CH, status: cols.shortStatus ? 2 : 13, progress: 9, age: 5, dur: 6, metric: 8, project: 6 };
  const used = cols.columns.filter((c) => c !== "name").reduce((a, c) => a + (fixed[c] ?? 0), 0);
  return (width - 8 - 5 * (cols.columns.length - 1)) / CH - used;
}

describe("run list columns", () => {
  it("a wide list shows every column", () => {
    const c = chooseColumns(1200, CH, true);
    expect(c.columns).toEqual(["check", "status", "name", "project", "progress", "age", "dur", "metric"]);
    expect(c.shortStatus).toBe(false);
  });

  it("at phone width the project column goes before the name is cut", () => {
    for (const hasProgress of [false, true]) {
      const c = chooseColumns(388, CH, hasProgress);
      expect(c.columns).not.toContain("project");
      expect(c.columns).toContain("name");
      expect(nameRoom(388, c)).toBeGreaterThanOrEqual(NAME_MIN_CH);
    }
  });

  it("whenever the project column stays, the name has its room", () => {
    for (let w = 200; w <= 1400; w += 10) {
      for (const hasProgress of [false, true]) {
        const c = chooseColumns(w, CH, hasProgress);
        if (c.columns.includes("project")) expect(nameRoom(w, c)).toBeGreaterThanOrEqual(NAME_MIN_CH);
        expect(c.template.split(" ").filter((t) => !t.startsWith("minmax(") || t.includes(")")).length).toBeGreaterThan(0);
      }
    }
  });

  it("drops columns in order: project, age, the status word, duration, progress, metric", () => {
    const seen: string[] = [];
    for (let w = 1200; w >= 150; w -= 5) {
      const c = chooseColumns(w, CH, true);
      const key = `${c.columns.join(",")}${c.shortStatus ? " short" : ""}`;
      if (seen[seen.length - 1] !== key) seen.push(key);
    }
    expect(seen).toEqual([
      "check,status,name,project,progress,age,dur,metric",
      "check,status,name,progress,age,dur,metric",
      "check,status,name,progress,dur,metric",
      "check,status,name,progress,dur,metric short",
      "check,status,name,progress,metric short",
      "check,status,name,metric short",
      "check,status,name short",
    ]);
  });

  it("the progress column shows only when a run has progress", () => {
    expect(chooseColumns(1200, CH, false).columns).not.toContain("progress");
    expect(anyProgress([{ status: "running" }])).toBe(false);
    expect(anyProgress([{ status: "running", progress: null, steps_per_s: null, total_steps: null }, { progress: 0.2 }])).toBe(true);
    // the template has one track per column
    const c = chooseColumns(1200, CH, true);
    expect(c.template.match(/minmax\([^)]*\)|\S+/g)).toHaveLength(c.columns.length);
  });

  it("the run list's fitted height grows with its rows from a minimum", () => {
    expect(fitHeight(-1)).toBeNull();
    expect(fitHeight(0)).toBe(fitHeight(2));
    expect(fitHeight(10)! - fitHeight(9)!).toBe(18);
    expect(fitHeight(2)!).toBeLessThan(200);
  });
});
