import { describe, expect, it } from "vitest";
import type uPlot from "uplot";
import { affine, toPx } from "./pixels";

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
