import { afterEach, describe, expect, it, vi } from "vitest";
import { afterFirstChart, chartReadDone, chartReadStarted, initialState, sidePanelsNow, type AppState } from "./app";
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

  it("waits while any chart reads, and opens when the last shows its read", async () => {
    const store = new Store<AppState>(initialState());
    chartReadStarted(store); // chart A: 10 runs of a long series
    chartReadStarted(store); // chart B: a key they do not have
    const gate = afterFirstChart(store, 60_000);
    expect(await settled(gate)).toBe(false);
    chartReadDone(store); // chart B: nothing to draw, at once
    expect(await settled(gate)).toBe(false);
    chartReadDone(store); // chart A drew its runs
    expect(await settled(gate)).toBe(true);
    // panels shown later do not wait at all, even while other charts read
    chartReadStarted(store);
    expect(await settled(afterFirstChart(store, 60_000))).toBe(true);
  });

  it("opens at once for the metrics grid", async () => {
    const store = new Store<AppState>(initialState());
    chartReadStarted(store); // chart B
    const gate = afterFirstChart(store, 60_000);
    sidePanelsNow(store);
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
