import { describe, expect, it } from "vitest";
import { FrameBatch, type FrameClock } from "./frames";

function manualClock() {
  let queued: Array<() => void> = [];
  let now = 0;
  const clock: FrameClock = {
    request: (fn) => queued.push(fn),
    cancel: () => {
      queued = [];
    },
    now: () => now,
  };
  const frame = () => {
    const q = queued;
    queued = [];
    for (const f of q) f();
  };
  return { clock, frame, advance: (ms: number) => (now += ms), frames: () => queued.length };
}

describe("metrics grid: one animation frame for every chart", () => {
  it("draws each chart once per frame however many live points asked", () => {
    const c = manualClock();
    const fb = new FrameBatch(c.clock);
    const drawn: string[] = [];
    const a = () => drawn.push("a");
    const b = () => drawn.push("b");
    for (let i = 0; i < 10; i++) {
      fb.draw(a);
      fb.draw(b);
    }
    expect(c.frames()).toBe(1);
    c.frame();
    expect(drawn).toEqual(["a", "b"]);
    fb.draw(a);
    fb.cancel(a);
    c.frame();
    expect(drawn).toEqual(["a", "b"]);
  });

  it("spreads slow tasks over frames within the budget, at least one per frame", () => {
    const c = manualClock();
    const fb = new FrameBatch(c.clock, 8);
    const done: number[] = [];
    for (let i = 0; i < 5; i++) {
      fb.later(() => {
        done.push(i);
        c.advance(5); // each task takes 5 ms
      });
    }
    c.frame();
    expect(done).toEqual([0, 1]); // 5 ms < 8: a second one fits, a third does not
    c.frame();
    expect(done).toEqual([0, 1, 2, 3]);
    fb.prune(() => false);
    c.frame();
    expect(done).toEqual([0, 1, 2, 3]);
    expect(fb.pending).toBe(0);
  });
});
