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
}

export function initialState(): AppState {
  return { runs: new Map(), loaded: false, total: 0, focused: null, compare: [], conn: "closed", error: null };
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
