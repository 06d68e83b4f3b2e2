import { describe, expect, it } from "vitest";
import { PlotSizes } from "./plot-sizes";

/** A plot element whose size can change, counting how often it is read (each read of a real
 * element's size may lay the page out). */
function plot(width: number, height: number) {
  const el = {
    reads: 0,
    width,
    height,
    get clientWidth() {
      el.reads++;
      return el.width;
    },
    get clientHeight() {
      return el.height;
    },
  };
  return el;
}

describe("PlotSizes", () => {
  it("measures a plot once, however many times its chart asks", () => {
    const sizes = new PlotSizes();
    const p = plot(300, 120);
    expect(sizes.measure(p)).toEqual({ width: 300, height: 120 });
    for (let i = 0; i < 5; i++) expect(sizes.get(p)).toEqual({ width: 300, height: 120 });
    expect(p.reads).toBe(1);
  });

  it("measures a plot it never saw when asked", () => {
    const sizes = new PlotSizes();
    const p = plot(250, 100);
    expect(sizes.get(p)).toEqual({ width: 250, height: 100 });
    expect(sizes.get(p)).toEqual({ width: 250, height: 100 });
    expect(p.reads).toBe(1);
  });

  it("takes a resized plot's size from its observer, and a new pass measures again", () => {
    const sizes = new PlotSizes();
    const p = plot(300, 120);
    sizes.measure(p);
    p.width = 900; // enlarged in place: its ResizeObserver reports it
    sizes.observed(p, { width: 900, height: 400 });
    expect(sizes.get(p)).toEqual({ width: 900, height: 400 });
    p.width = 310;
    p.height = 118;
    expect(sizes.measure(p)).toEqual({ width: 310, height: 118 });
    expect(sizes.get(p)).toEqual({ width: 310, height: 118 });
  });

  it("keeps each plot's own size", () => {
    const sizes = new PlotSizes();
    const a = plot(300, 120);
    const b = plot(600, 240);
    sizes.measure(a);
    sizes.measure(b);
    expect([sizes.get(a).width, sizes.get(b).width]).toEqual([300, 600]);
  });
});
