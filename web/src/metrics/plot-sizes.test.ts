import { describe, expect, it } from "vitest";
import { MEASURED_MS, PlotSizes } from "./plot-sizes";

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

function clock() {
  const c = { t: 0, now: () => c.t };
  return c;
}

describe("PlotSizes", () => {
  it("measures a plot once, however many times its chart asks soon after", () => {
    const c = clock();
    const sizes = new PlotSizes(c.now);
    const p = plot(300, 120);
    expect(sizes.measure(p)).toEqual({ width: 300, height: 120 });
    for (let i = 0; i < 5; i++) {
      c.t += 10;
      expect(sizes.get(p)).toEqual({ width: 300, height: 120 });
    }
    expect(p.reads).toBe(1);
  });

  it("measures a plot it never saw when asked", () => {
    const sizes = new PlotSizes(clock().now);
    const p = plot(250, 100);
    expect(sizes.get(p)).toEqual({ width: 250, height: 100 });
    expect(sizes.get(p)).toEqual({ width: 250, height: 100 });
    expect(p.reads).toBe(1);
  });

  it("measures again a plot measured long ago that nothing watches (the grid was resized)", () => {
    const c = clock();
    const sizes = new PlotSizes(c.now);
    const p = plot(300, 120);
    sizes.measure(p);
    p.width = 500;
    c.t += MEASURED_MS + 1;
    expect(sizes.get(p)).toEqual({ width: 500, height: 120 });
    expect(p.reads).toBe(2);
  });

  it("takes a watched plot's size from its observer for as long as it watches", () => {
    const c = clock();
    const sizes = new PlotSizes(c.now);
    const p = plot(300, 120);
    sizes.measure(p);
    p.width = 900; // enlarged in place: its ResizeObserver reports it
    p.height = 400;
    sizes.observed(p, { width: 900, height: 400 });
    c.t += 60_000;
    expect(sizes.get(p)).toEqual({ width: 900, height: 400 });
    expect(p.reads).toBe(1);
    // its chart went away: the next one measures it
    sizes.unwatched(p);
    p.width = 310;
    expect(sizes.get(p)).toEqual({ width: 310, height: 400 });
    expect(p.reads).toBe(2);
  });

  it("keeps each plot's own size", () => {
    const sizes = new PlotSizes(clock().now);
    const a = plot(300, 120);
    const b = plot(600, 240);
    sizes.measure(a);
    sizes.measure(b);
    expect([sizes.get(a).width, sizes.get(b).width]).toEqual([300, 600]);
  });
});
