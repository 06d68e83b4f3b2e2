import { describe, expect, it } from "vitest";
import type { RunOut } from "../api/client";
import type { LastValue } from "./last-values";
import { isoTime, lastValuesOf, runTableCsv, runTableFileName } from "./run-table";

function run(id: string, over: Partial<RunOut> = {}): RunOut {
  return {
    id, project: "p", name: id, status: "completed", config: {}, tags: [], notes: "",
    created_at: 1_700_000_000, started_at: 1_700_000_001, ended_at: 1_700_000_061.5,
    heartbeat_at: null, heartbeat_timeout: 30, host: null, pid: null, command: null,
    git_commit: null, git_dirty: null, env: {}, commands_offered: [], summary: {},
    launch_spec: null, seq: 1, ...over,
  };
}

describe("runTableCsv", () => {
  it("writes the rows shown, in order, with the metric's last value and step", () => {
    const last = new Map<string, LastValue | null>([
      ["b", { step: 99, value: 0.125 }],
      ["a", null],
    ]);
    const csv = runTableCsv(
      [run("b", { name: "second", tags: ["x", "y"] }), run("a", { status: "running", ended_at: null, started_at: null })],
      "val/loss",
      (id) => last.get(id),
      1_700_000_100,
    );
    expect(csv.split("\n")).toEqual([
      "id,name,project,status,tags,created,started,duration_s,step,val/loss",
      "b,second,p,completed,x;y,2023-11-14T22:13:20.000Z,2023-11-14T22:13:21.000Z,60.5,99,0.125",
      // running, never started: its duration runs from creation to now; no such key: empty
      "a,a,p,running,,2023-11-14T22:13:20.000Z,,100,,",
      "",
    ]);
  });

  it("escapes names with commas, quotes and newlines and spells non-finite values", () => {
    const values: Record<string, LastValue> = {
      n: { step: 1, value: Number.NaN },
      p: { step: 2, value: Number.POSITIVE_INFINITY },
      m: { step: 3, value: Number.NEGATIVE_INFINITY },
    };
    const runs = [
      run("n", { name: 'a "quoted", name' }),
      run("p", { name: "two\nlines", project: "x,y" }),
      run("m", { tags: ["t,1", "t2"] }),
    ];
    const lines = runTableCsv(runs, "loss", (id) => values[id], 1_700_000_100).split("\n");
    expect(lines[1]).toMatch(/^n,"a ""quoted"", name",p,completed,,.*,1,nan$/);
    expect(lines[2]).toBe('p,"two');
    expect(lines[3]).toMatch(/^lines","x,y",completed,,.*,2,inf$/);
    expect(lines[4]).toMatch(/^m,m,p,completed,"t,1;t2",.*,3,-inf$/);
  });
});

describe("lastValuesOf", () => {
  it("reads only the runs whose value is not held, 100 runs per read", async () => {
    const ids = Array.from({ length: 250 }, (_, i) => `r${i}`);
    const held = (id: string) => (id === "r0" ? { step: 5, value: 1 } : id === "r1" ? null : undefined);
    const reads: string[][] = [];
    const got = await lastValuesOf(ids, held, async (key, chunk) => {
      expect(key).toBe("loss");
      reads.push(chunk);
      return new Map(chunk.filter((id) => id !== "r2").map((id) => [id, { step: 7, value: 2 }]));
    }, "loss");
    expect(reads.map((c) => c.length)).toEqual([100, 100, 48]);
    expect(reads.flat()).not.toContain("r0");
    expect(got.get("r0")).toEqual({ step: 5, value: 1 });
    expect(got.get("r1")).toBeNull();
    expect(got.get("r2")).toBeNull();
    expect(got.get("r249")).toEqual({ step: 7, value: 2 });
    expect(got.size).toBe(250);
  });
});

describe("isoTime and runTableFileName", () => {
  it("writes UTC ISO times and a dated file name", () => {
    expect(isoTime(0)).toBe("1970-01-01T00:00:00.000Z");
    expect(isoTime(null)).toBe("");
    expect(runTableFileName(new Date(2025, 0, 2, 3, 4, 5))).toBe("runs-20250102-030405.csv");
  });
});
