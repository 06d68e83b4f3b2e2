import { describe, expect, it } from "vitest";
import type { Zoom } from "../chart/feed";
import { GridSync, type SyncMember } from "./sync";

function member() {
  const seen: { cursor: Array<number | null>; window: Array<Zoom | null> } = { cursor: [], window: [] };
  const m: SyncMember = { showCursor: (x) => seen.cursor.push(x), showWindow: (z) => seen.window.push(z) };
  return { m, seen };
}

describe("metrics grid: synchronized cursor and x window", () => {
  it("a cursor move reaches every other chart, not the one it came from", () => {
    const s = new GridSync();
    const a = member();
    const b = member();
    const c = member();
    s.join(a.m);
    s.join(b.m);
    s.join(c.m);
    s.moveCursor(a.m, 120);
    s.moveCursor(a.m, 120); // the same x again: nothing new
    s.moveCursor(a.m, null);
    expect(a.seen.cursor).toEqual([]);
    expect(b.seen.cursor).toEqual([120, null]);
    expect(c.seen.cursor).toEqual([120, null]);
    expect(s.cursor).toBeNull();
  });

  it("a zoom is shown by the others, a reset brings all back, and a chart joining later starts zoomed", () => {
    const s = new GridSync();
    const a = member();
    const b = member();
    s.join(a.m);
    const leaveB = s.join(b.m);
    s.setWindow(a.m, { min: 10, max: 20 });
    s.setWindow(a.m, { min: 10, max: 20 }); // unchanged
    expect(b.seen.window).toEqual([{ min: 10, max: 20 }]);
    expect(a.seen.window).toEqual([]);
    const late = member();
    s.join(late.m);
    expect(late.seen.window).toEqual([{ min: 10, max: 20 }]);
    leaveB();
    s.setWindow(null, null); // the toolbar's reset: everyone
    expect(a.seen.window).toEqual([null]);
    expect(late.seen.window).toEqual([{ min: 10, max: 20 }, null]);
    expect(b.seen.window).toEqual([{ min: 10, max: 20 }]); // left before the reset
    expect(s.window).toBeNull();
    expect(s.size).toBe(2);
  });
});
