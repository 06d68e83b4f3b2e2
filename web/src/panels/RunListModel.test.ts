import { describe, expect, it } from "vitest";
import type { RunOut } from "../api/client";
import { clickSort, countByStatus, duration, matches, stepFocus, viewOf, viewRuns } from "./RunListModel";

function run(i: number, over: Partial<RunOut> = {}): RunOut {
  return {
    id: `r${String(i).padStart(5, "0")}`,
    project: i % 2 ? "odd" : "even",
    name: `run-${i}`,
    status: "completed",
    config: {},
    tags: i % 3 ? [] : ["three"],
    notes: "",
    created_at: 1000 + i,
    started_at: 1000 + i,
    ended_at: 1000 + i + (i % 7) * 10,
    heartbeat_at: null,
    heartbeat_timeout: 30,
    host: null,
    pid: null,
    command: null,
    git_commit: null,
    git_dirty: null,
    env: {},
    commands_offered: [],
    summary: {},
    launch_spec: null,
    seq: 1,
    ...over,
  };
}

describe("run list model", () => {
  it("filters by name, id, project, tag and status, all terms required", () => {
    const r = run(3, { status: "failed" });
    expect(matches(r, "run-3")).toBe(true);
    expect(matches(r, "R00003")).toBe(true);
    expect(matches(r, "odd")).toBe(true);
    expect(matches(r, "three")).toBe(true);
    expect(matches(r, "failed odd")).toBe(true);
    expect(matches(r, "failed even")).toBe(false);
    expect(matches(r, "  ")).toBe(true);
  });

  it("sorts by created, name, status, duration both ways", () => {
    const runs = [run(1), run(2, { status: "running", ended_at: null }), run(10)];
    const now = 5000;
    const ids = (ui: Parameters<typeof viewRuns>[1]) => viewRuns(runs, ui, now).map((r) => r.id);
    expect(ids({ filter: "", sort: "created", desc: true })).toEqual(["r00010", "r00002", "r00001"]);
    expect(ids({ filter: "", sort: "name", desc: false })).toEqual(["r00001", "r00010", "r00002"]);
    expect(ids({ filter: "", sort: "status", desc: false })[0]).toBe("r00002");
    expect(ids({ filter: "", sort: "duration", desc: true })[0]).toBe("r00002");
    expect(duration(runs[1]!, now)).toBe(5000 - 1002);
  });

  it("handles 10k runs and memoises on identity", () => {
    const map = new Map<string, RunOut>();
    for (let i = 0; i < 10000; i++) map.set(run(i).id, run(i));
    const ui = { filter: "odd three", sort: "name" as const, desc: false };
    const v = viewOf(map, ui);
    expect(v.length).toBe(1667);
    expect(viewOf(map, ui)).toBe(v);
    expect(viewOf(map, { ...ui })).not.toBe(v);
  });

  it("steps focus within the view, clamped", () => {
    const v = [run(1), run(2), run(3)];
    expect(stepFocus(v, null, 1)).toBe("r00001");
    expect(stepFocus(v, null, -1)).toBe("r00003");
    expect(stepFocus(v, "r00001", 1)).toBe("r00002");
    expect(stepFocus(v, "r00003", 1)).toBe("r00003");
    expect(stepFocus(v, "r00001", -1)).toBe("r00001");
    expect(stepFocus(v, "gone", 1)).toBe("r00001");
    expect(stepFocus([], "x", 1)).toBeNull();
  });

  it("header clicks toggle direction", () => {
    expect(clickSort({ filter: "", sort: "created", desc: true }, "created")).toEqual({ sort: "created", desc: false });
    expect(clickSort({ filter: "", sort: "created", desc: true }, "name")).toEqual({ sort: "name", desc: false });
  });

  it("counts runs by status", () => {
    expect(countByStatus([run(1), run(2, { status: "running" }), run(3)])).toEqual({ completed: 2, running: 1 });
  });

});
