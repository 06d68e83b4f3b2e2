// The dashboard's shared state: the runs (kept current by runs-sync), which run is open
// (`focused`), which runs are compared, and the live connection. Panels read it with
// useApp(selector) and change it with the functions below; nothing else is global.
import type { RunOut } from "../api/client";
import { LiveClient, defaultUrl, type ConnState } from "../live/socket";
import { Store, useStore } from "./store";

export interface AppState {
  /** Every known run by id (a new Map on each change). */
  runs: Map<string, RunOut>;
  /** True once the first page of runs arrived. */
  loaded: boolean;
  /** Runs the server counts (the list may still be loading more pages). */
  total: number;
  focused: string | null;
  /** Runs selected for comparison, in selection order. */
  compare: string[];
  conn: ConnState;
  /** Last error worth showing in the status bar. */
  error: string | null;
  /**
   * Every chart that began its first read has shown what it read (or the metrics grid
   * is on screen). Until then the panels loaded on first use wait (see afterFirstChart).
   */
  chartShown: boolean;
  /** Charts whose first read of their runs is not on screen yet. */
  chartReads: number;
}

export function initialState(): AppState {
  return { runs: new Map(), loaded: false, total: 0, focused: null, compare: [], conn: "closed", error: null, chartShown: false, chartReads: 0 };
}

export const app = new Store<AppState>(initialState());
export const live = new LiveClient({ url: defaultUrl() });

export function useApp<T>(select: (s: AppState) => T): T {
  return useStore(app, select);
}

export function focusRun(id: string | null): void {
  app.set({ focused: id });
}

export function toggleCompare(id: string): void {
  app.set((s) => ({
    compare: s.compare.includes(id) ? s.compare.filter((x) => x !== id) : [...s.compare, id],
  }));
}

export function setCompare(ids: string[]): void {
  app.set({ compare: ids });
}

/** The runs a chart shows: the compared ones, else the open one. */
export function chartRuns(s: AppState): string[] {
  if (s.compare.length) return s.compare;
  return s.focused ? [s.focused] : [];
}

/** How long the panels loaded on first use wait for a chart at most. */
export const FIRST_CHART_WAIT_MS = 1500;

/** Let the side panels load now (the metrics grid on screen: see metrics/engine.ts). */
export function sidePanelsNow(store: Store<AppState> = app): void {
  store.set({ chartShown: true });
}

/** A chart began the first read of its runs. */
export function chartReadStarted(store: Store<AppState> = app): void {
  store.set((s) => ({ chartReads: s.chartReads + 1 }));
}

/** That read is on screen (its points, or none), or the chart went away. */
export function chartReadDone(store: Store<AppState> = app): void {
  store.set((s) => {
    const left = Math.max(0, s.chartReads - 1);
    return { chartReads: left, chartShown: s.chartShown || left === 0 };
  });
}

/**
 * Resolves once every chart that began its first read has shown what it read, or the
 * metrics grid is on screen, or the user pressed a key or a button (the palette's run commands
 * come from the actions panel), or after `waitMs`. The panels loaded on first use (events,
 * console, config…) wait for it, so that the chart's read, answer and draw do not share
 * the page's one main thread, and the server, with their modules, reads and first
 * renders: on a 2-core machine that put ~40 ms on the time to the first chart
 * (docs/performance.md).
 */
export function afterFirstChart(store: Store<AppState> = app, waitMs = FIRST_CHART_WAIT_MS): Promise<void> {
  return new Promise((resolve) => {
    if (store.get().chartShown) {
      resolve();
      return;
    }
    const input = ["keydown", "pointerdown"] as const;
    const done = () => {
      clearTimeout(timer);
      unsubscribe();
      for (const type of input) globalThis.removeEventListener?.(type, done, true);
      resolve();
    };
    const timer = setTimeout(done, waitMs);
    const unsubscribe = store.subscribe(() => {
      if (store.get().chartShown) done();
    });
    for (const type of input) globalThis.addEventListener?.(type, done, true);
  });
}
