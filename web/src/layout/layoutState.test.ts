import { describe, expect, it } from "vitest";
import {
  ALL_PANELS,
  MIN_FRACTION,
  STORAGE_KEY,
  cellOf,
  defaultLayout,
  joinTab,
  loadLayout,
  movePanel,
  resize,
  saveLayout,
  showPanel,
  validateLayout,
} from "./layoutState";

function allPanelsOnce(s: ReturnType<typeof defaultLayout>) {
  const flat = s.cells.flatMap((c) => c.panels).sort();
  expect(flat).toEqual([...ALL_PANELS].sort());
  for (const c of s.cells) {
    if (c.panels.length) expect(c.panels).toContain(c.active);
    else expect(c.active).toBeNull();
  }
}

describe("layout state", () => {
  it("default holds every panel once, console+images+artifacts share cell 9", () => {
    const s = defaultLayout();
    allPanelsOnce(s);
    expect(s.cells).toHaveLength(9);
    expect(s.cells[8]).toEqual({ panels: ["console", "images", "artifacts"], active: "console" });
    expect(cellOf(s, "runs")).toBe(0);
  });

  it("joinTab moves a panel into another cell as the shown tab", () => {
    const s = joinTab(defaultLayout(), "system", 0);
    allPanelsOnce(s);
    expect(s.cells[0]).toEqual({ panels: ["runs", "system"], active: "system" });
    expect(s.cells[1]).toEqual({ panels: [], active: null });
    // and back into the empty cell
    const t = joinTab(s, "system", 1);
    expect(t.cells[1]).toEqual({ panels: ["system"], active: "system" });
    expect(t.cells[0]).toEqual({ panels: ["runs"], active: "runs" });
  });

  it("joinTab of the active tab leaves its neighbour shown", () => {
    const s = joinTab(defaultLayout(), "console", 0);
    expect(s.cells[8]).toEqual({ panels: ["images", "artifacts"], active: "images" });
  });

  it("movePanel swaps with the target's shown panel", () => {
    const s = movePanel(defaultLayout(), "runs", 4);
    allPanelsOnce(s);
    expect(s.cells[4]).toEqual({ panels: ["runs"], active: "runs" });
    expect(s.cells[0]).toEqual({ panels: ["chartB"], active: "chartB" });
  });

  it("movePanel into an empty cell joins it; onto its own cell just shows it", () => {
    let s = joinTab(defaultLayout(), "system", 0);
    s = movePanel(s, "events", 1);
    expect(s.cells[1]).toEqual({ panels: ["events"], active: "events" });
    expect(s.cells[2]).toEqual({ panels: ["alerts"], active: "alerts" }); // events left, alerts stays
    const t = movePanel(defaultLayout(), "images", 8);
    expect(t.cells[8]!.active).toBe("images");
  });

  it("showPanel brings a tab to front", () => {
    const s = showPanel(defaultLayout(), "images");
    expect(s.cells[8]!.active).toBe("images");
    const same = showPanel(s, "images");
    expect(same).toBe(s);
  });

  it("resize trades between neighbours and clamps", () => {
    let s = resize(defaultLayout(), "cols", 0, 0.1);
    expect(s.cols[0]).toBeCloseTo(1 / 3 + 0.1);
    expect(s.cols[1]).toBeCloseTo(1 / 3 - 0.1);
    expect(s.cols[2]).toBeCloseTo(1 / 3);
    s = resize(s, "cols", 0, 5);
    expect(s.cols[1]).toBeCloseTo(MIN_FRACTION);
    s = resize(s, "rows", 1, -5);
    expect(s.rows[1]).toBeCloseTo(MIN_FRACTION);
    expect(s.rows.reduce((a, b) => a + b)).toBeCloseTo(1);
    expect(resize(s, "rows", 2, 0.1)).toBe(s);
  });

  it("persists and restores; corrupt values fall back to the default", () => {
    const mem = new Map<string, string>();
    const storage = { getItem: (k: string) => mem.get(k) ?? null, setItem: (k: string, v: string) => void mem.set(k, v) };
    const s = resize(joinTab(defaultLayout(), "system", 0), "cols", 1, 0.05);
    saveLayout(storage, s);
    const back = loadLayout(storage);
    expect(back.cells).toEqual(s.cells);
    expect(back.cols[1]).toBeCloseTo(s.cols[1]!);
    mem.set(STORAGE_KEY, "{not json");
    expect(loadLayout(storage)).toEqual(defaultLayout());
    mem.set(STORAGE_KEY, JSON.stringify({ cells: [], cols: [1], rows: [1] }));
    expect(loadLayout(storage)).toEqual(defaultLayout());
    expect(loadLayout(null)).toEqual(defaultLayout());
  });

  it("validate drops unknown and duplicate panels and adds missing ones", () => {
    const d = defaultLayout();
    const raw = JSON.parse(JSON.stringify(d));
    raw.cells[0].panels = ["runs", "bogus", "system"];
    raw.cells[8].panels = ["console"];
    raw.cells[8].active = "nope";
    const v = validateLayout(raw)!;
    allPanelsOnce(v);
    expect(v.cells[0]!.panels).toEqual(["runs", "system"]);
    expect(v.cells[1]!.panels).toEqual([]);
    expect(v.cells[8]).toEqual({ panels: ["console", "images", "artifacts"], active: "console" });
    expect(validateLayout({ ...raw, cols: [0.5, 0.5, -1] })).toBeNull();
    expect(validateLayout("x")).toBeNull();
  });
});
