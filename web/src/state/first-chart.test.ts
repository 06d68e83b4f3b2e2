import { afterEach, describe, expect, it, vi } from "vitest";
import { afterFirstChart, chartReadDone, chartReadStarted, firstChartShown, initialState, type AppState } from "./app";
import { Store } from "./store";

/** Whether the promise has settled (after the microtasks now queued). */
async function settled(p: Promise<void>): Promise<boolean> {
  let done = false;
  void p.then(() => {
    done = true;
  });
  await Promise.resolve();
  await Promise.resolve();
  return done;
}

describe("the panels loaded on first use wait for the first chart", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("waits while a chart reads, and opens when one shows data", async () => {
    const store = new Store<AppState>(initialState());
    chartReadStarted(store); // chart A
    chartReadStarted(store); // chart B
    const gate = afterFirstChart(store, 60_000);
    expect(await settled(gate)).toBe(false);
    chartReadDone(false, store); // chart B: its key has no points
    expect(await settled(gate)).toBe(false);
    chartReadDone(true, store); // chart A drew its runs
    expect(await settled(gate)).toBe(true);
    // later panels do not wait at all
    expect(await settled(afterFirstChart(store, 60_000))).toBe(true);
  });

  it("opens when every chart that read found nothing", async () => {
    const store = new Store<AppState>(initialState());
    chartReadStarted(store);
    chartReadStarted(store);
    const gate = afterFirstChart(store, 60_000);
    chartReadDone(false, store);
    expect(await settled(gate)).toBe(false);
    chartReadDone(false, store);
    expect(await settled(gate)).toBe(true);
  });

  it("opens for a cell of the metrics grid that drew", async () => {
    const store = new Store<AppState>(initialState());
    const gate = afterFirstChart(store, 60_000);
    firstChartShown(store);
    expect(await settled(gate)).toBe(true);
  });

  it("opens at the user's first key or click (the palette's run commands need the actions panel)", async () => {
    const handlers = new Map<string, () => void>();
    vi.stubGlobal("addEventListener", (type: string, fn: () => void) => handlers.set(type, fn));
    vi.stubGlobal("removeEventListener", (type: string) => handlers.delete(type));
    try {
      const store = new Store<AppState>(initialState());
      chartReadStarted(store);
      const gate = afterFirstChart(store, 60_000);
      expect(await settled(gate)).toBe(false);
      expect([...handlers.keys()].sort()).toEqual(["keydown", "pointerdown"]);
      handlers.get("keydown")!();
      expect(await settled(gate)).toBe(true);
      expect(handlers.size).toBe(0); // no listener left behind
    } finally {
      vi.unstubAllGlobals();
    }
  });

  it("opens after the wait when no chart ever shows (a failing server, no chart on screen)", async () => {
    vi.useFakeTimers();
    const store = new Store<AppState>(initialState());
    chartReadStarted(store);
    const gate = afterFirstChart(store, 1500);
    await vi.advanceTimersByTimeAsync(1400);
    expect(await settled(gate)).toBe(false);
    await vi.advanceTimersByTimeAsync(200);
    expect(await settled(gate)).toBe(true);
  });
});
