import { describe, expect, it } from "vitest";
import type { RunOut } from "../api/client";
import type { TableRun } from "./api";
import { cellText, cellValue, tableCsvRows } from "./cells";
import { columnSpec } from "./columns";

const row = {
  id: "a1",
  name: "old",
  status: "running",
  tags: ["x", "y"],
  created_at: 100,
  started_at: 100,
  ended_at: null,
  heartbeat_at: 150,
  values: { "metric:val/acc:last": 0.5, "config:opt": "adam", step: 12, name: "old", eta_s: 90 },
} as unknown as TableRun;

describe("cells", () => {
  it("run fields come from the live run, other columns from the row's values", () => {
    const live = { ...row, name: "renamed", status: "completed", ended_at: 160, eta_s: null } as unknown as RunOut;
    expect(cellValue(row, live, "name", 200)).toBe("renamed");
    expect(cellValue(row, live, "status", 200)).toBe("completed");
    expect(cellValue(row, live, "duration", 200)).toBe(60);
    expect(cellValue(row, undefined, "duration", 200)).toBe(100); // running: to now
    expect(cellValue(row, live, "metric:val/acc:last", 200)).toBe(0.5);
    expect(cellValue(row, live, "config:missing", 200)).toBeNull();
  });

  it("formats by kind: tags, durations, ETA, values as the dashboard writes them", () => {
    expect(cellText(columnSpec("tags")!, ["x", "y"])).toBe("x y");
    expect(cellText(columnSpec("duration")!, 192)).toBe("3m12s");
    expect(cellText(columnSpec("eta_s")!, 45)).toBe("45s");
    expect(cellText(columnSpec("progress")!, 0.421)).toBe("42%");
    expect(cellText(columnSpec("metric:loss:min")!, "NaN")).toBe("NaN");
    expect(cellText(columnSpec("config:amp")!, true)).toBe("true");
    expect(cellText(columnSpec("config:amp")!, null)).toBe("");
  });

  it("CSV rows: the id, then each column's exact value", () => {
    const specs = ["name", "tags", "metric:val/acc:last", "config:opt"].map((c) => columnSpec(c)!);
    expect(tableCsvRows(specs, [row], 200)).toEqual([["a1", "old", "x;y", 0.5, "adam"]]);
  });
});
