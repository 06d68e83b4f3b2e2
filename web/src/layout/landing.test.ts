import { describe, expect, it } from "vitest";
import type { RunOut } from "../api/client";
import { initialState, type AppState } from "../state/app";
import { Store } from "../state/store";
import { landingApplies, landingRun, startLanding } from "./landing";

const run = (id: string, status: RunOut["status"], started: number | null, created = 0): RunOut =>
  ({ id, status, started_at: started, created_at: created, name: id, project: "p", tags: [], seq: 1 }) as unknown as RunOut;

describe("landing", () => {
  it("opens the live run started last, running before paused", () => {
    expect(landingRun([])).toBeNull();
    expect(landingRun([run("a", "completed", 50), run("b", "failed", 60)])).toBeNull();
    expect(landingRun([run("a", "running", 10), run("b", "running", 30), run("c", "completed", 99)])).toBe("b");
    expect(landingRun([run("a", "running", 10), run("p", "paused", 30)])).toBe("a");
    expect(landingRun([run("p", "paused", 30), run("q", "paused", 40)])).toBe("q");
    // not started yet: by creation time
    expect(landingRun([run("a", "running", null, 5), run("b", "running", null, 9)])).toBe("b");
  });

  it("applies only when neither the URL nor the user chose", () => {
    const s = { focused: null, compare: [] };
    expect(landingApplies("", s)).toBe(true);
    expect(landingApplies("?run=x", s)).toBe(false);
    expect(landingApplies("?run=", s)).toBe(false);
    expect(landingApplies("?compare=a,b", s)).toBe(false);
    expect(landingApplies("", { focused: "x", compare: [] })).toBe(false);
    expect(landingApplies("", { focused: null, compare: ["a"] })).toBe(false);
  });

  it("waits for the run list, then opens once", () => {
    const store = new Store<AppState>(initialState());
    const stop = startLanding(store, "");
    store.set({ runs: new Map([["a", run("a", "running", 1)]]) }); // a page not yet in
    expect(store.get().focused).toBeNull();
    store.set({ runs: new Map([["a", run("a", "running", 1)], ["b", run("b", "running", 2)]]), loaded: true });
    expect(store.get().focused).toBe("b");
    store.set({ focused: null }); // the user closes it: it stays closed
    store.set({ runs: new Map([["c", run("c", "running", 3)]]) });
    expect(store.get().focused).toBeNull();
    stop();
  });

  it("does nothing when the user chose before the list came", () => {
    const store = new Store<AppState>(initialState());
    startLanding(store, "");
    store.set({ compare: ["a"] });
    store.set({ runs: new Map([["b", run("b", "running", 2)]]), loaded: true });
    expect(store.get().focused).toBeNull();
  });
});
