import { describe, expect, it } from "vitest";
import type uPlot from "uplot";
import { affine, columnSpans, toPx } from "./pixels";

/** What uPlot's valToPos does for a horizontal (x) or vertical (y) scale, in canvas pixels. */
function fakePlot(x: [number, number], y: [number, number], logY: boolean): uPlot {
  const box = { left: 40, top: 10, width: 1200, height: 300 };
  const pct = (v: number, [lo, hi]: [number, number], log: boolean) =>
    log ? (Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo)) : (v - lo) / (hi - lo);
  return {
    scales: { x: { min: x[0], max: x[1] }, y: { min: y[0], max: y[1] } },
    valToPos: (v: number, key: string) =>
      key === "x" ? box.left + box.width * pct(v, x, false) : box.top + box.height * (1 - pct(v, y, logY)),
  } as unknown as uPlot;
}

describe("affine", () => {
  it("lands every value where valToPos does, on linear and log scales", () => {
    for (const logY of [false, true]) {
      const u = fakePlot([0, 1_000_000], logY ? [1e-4, 10] : [-3, 7], logY);
      const tx = affine(u, "x", false)!;
      const ty = affine(u, "y", logY)!;
      for (const v of [0, 1, 12_345.5, 999_999, 1_000_000, 2e6]) {
        expect(toPx(tx, v)).toBeCloseTo(u.valToPos(v, "x", true), 6);
      }
      for (const v of logY ? [1e-4, 3e-3, 0.5, 10, 100] : [-3, 0, 1.25, 7, 9]) {
        expect(toPx(ty, v)).toBeCloseTo(u.valToPos(v, "y", true), 6);
      }
    }
  });

  it("is null for a scale without an extent (nothing to draw yet)", () => {
    expect(affine(fakePlot([5, 5], [0, 1], false), "x", false)).toBeNull();
    expect(affine(fakePlot([0, 1], [0, 1], true), "y", true)).toBeNull(); // log from 0
    const none = { scales: { x: { min: null, max: null } }, valToPos: () => 0 } as unknown as uPlot;
    expect(affine(none, "x", false)).toBeNull();
  });
});

describe("columnSpans", () => {
  /** The spans drawn: [x, from, to] each. */
  function spans(cx: number[], top: number[], bot: number[]): number[][] {
    const out: number[][] = [];
    columnSpans(
      {
        moveTo: (x, y) => out.push([x, y]),
        lineTo: (x, y) => {
          const last = out[out.length - 1]!;
          expect(last[0]).toBe(x); // a vertical span
          last.push(y);
        },
      },
      cx,
      top,
      bot,
      cx.length,
    );
    return out;
  }

  it("draws each bucket column's span through the column's middle", () => {
    expect(spans([10, 11, 12], [5, 4, 6], [9, 8, 7])).toEqual([
      [10.5, 5, 9],
      [11.5, 4, 8],
      [12.5, 6, 7],
    ]);
  });

  it("covers the columns between two buckets as the polygon would, without holes", () => {
    const out = spans([10, 14], [0, 8], [20, 12]);
    expect(out.map((s) => s[0])).toEqual([10.5, 11.5, 12.5, 13.5, 14.5]);
    expect(out[2]).toEqual([12.5, 4, 16]); // halfway: halfway between the two spans
    for (const [, from, to] of out) expect(to).toBeGreaterThanOrEqual(from!);
  });
});
