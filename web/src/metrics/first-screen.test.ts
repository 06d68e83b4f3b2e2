import { describe, expect, it } from "vitest";
import { FirstScreen, type Timers } from "./first-screen";

function manualTimers() {
  const pending = new Map<number, () => void>();
  let next = 1;
  const timers: Timers = {
    set: (fn) => {
      pending.set(next, fn);
      return next++;
    },
    clear: (id) => void pending.delete(id as number),
  };
  const fire = () => {
    const fns = [...pending.values()];
    pending.clear();
    for (const f of fns) f();
  };
  return { timers, fire, armed: () => pending.size };
}

describe("metrics grid: the rest of the grid waits for the first screen", () => {
  it("is done once every chart of the first screen drew, not before", () => {
    const t = manualTimers();
    let done = 0;
    const fs = new FirstScreen(() => done++, 1500, t.timers);
    fs.begin(["loss", "acc"]);
    fs.settled("loss");
    fs.settled("other"); // not of the first screen
    expect(done).toBe(0);
    fs.settled("acc");
    expect(done).toBe(1);
    expect(t.armed()).toBe(0); // the limit is cancelled
    fs.settled("acc");
    fs.finish();
    expect(done).toBe(1); // once
  });

  it("only the first screen counts: later reads of cells in view do not hold it", () => {
    const t = manualTimers();
    let done = 0;
    const fs = new FirstScreen(() => done++, 1500, t.timers);
    fs.begin(["a"]);
    fs.begin(["b", "c"]);
    fs.settled("a");
    expect(done).toBe(1);
  });

  it("a chart that never draws (a server away) holds it only until the limit", () => {
    const t = manualTimers();
    let done = 0;
    const fs = new FirstScreen(() => done++, 1500, t.timers);
    fs.begin(["a", "b"]);
    fs.settled("a");
    expect(done).toBe(0);
    t.fire();
    expect(done).toBe(1);
  });

  it("keys without any first screen read (a panel not laid out) end at the limit", () => {
    const t = manualTimers();
    let done = 0;
    const fs = new FirstScreen(() => done++, 1500, t.timers);
    fs.arm();
    fs.arm(); // armed once
    expect(t.armed()).toBe(1);
    t.fire();
    expect(done).toBe(1);
  });

  it("a first screen with nothing in view is done at once; scrolling ends the wait", () => {
    let done = 0;
    const empty = new FirstScreen(() => done++, 1500, manualTimers().timers);
    empty.begin([]);
    expect(done).toBe(1);
    const t = manualTimers();
    const fs = new FirstScreen(() => done++, 1500, t.timers);
    fs.begin(["a"]);
    fs.finish(); // the user scrolled
    expect(done).toBe(2);
    expect(t.armed()).toBe(0);
  });

  it("a grid gone before it was done never calls back", () => {
    const t = manualTimers();
    let done = 0;
    const fs = new FirstScreen(() => done++, 1500, t.timers);
    fs.begin(["a"]);
    fs.destroy();
    fs.settled("a");
    t.fire();
    expect(done).toBe(0);
  });
});

describe("metrics grid: the cells of the first render", () => {
  it("are those a grid of that size shows with the margin, at most 64", async () => {
    const { firstCells } = await import("./MetricsPanel");
    expect(firstCells(1536, 800)).toBe(6 * 8); // 6 columns, 800 + 2 x 150 px of rows, one more
    expect(firstCells(390, 700)).toBe(1 * 7); // a phone: one column
    expect(firstCells(3840, 2000)).toBe(64);
    expect(firstCells(0, 0)).toBe(64); // not laid out (a hidden tab): the most
  });
});
