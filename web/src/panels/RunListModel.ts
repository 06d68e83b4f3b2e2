// Run list filtering and sorting, and the list's UI state (filter text, sort) shared with
// the keyboard (j/k walk the same filtered+sorted order the list shows).
import type { RunOut } from "../api/client";
import { Store, useStore } from "../state/store";

export type RunStatus = RunOut["status"];
export type SortKey = "created" | "name" | "status" | "duration";

export interface RunListUi {
  filter: string;
  sort: SortKey;
  desc: boolean;
  /** The metric whose last logged value the last column shows. */
  metric: string;
}

/** What orders and filters the list (the metric column does not). */
export type ViewUi = Pick<RunListUi, "filter" | "sort" | "desc">;

export const runListUi = new Store<RunListUi>({ filter: "", sort: "created", desc: true, metric: "loss" });

export function useRunListUi<T>(select: (s: RunListUi) => T): T {
  return useStore(runListUi, select);
}

/** Clicking a header: a new key sorts by it (newest/longest/first first), the same key flips. */
export function clickSort(ui: ViewUi, key: SortKey): Pick<RunListUi, "sort" | "desc"> {
  if (ui.sort === key) return { sort: key, desc: !ui.desc };
  return { sort: key, desc: key === "created" || key === "duration" };
}

const STATUS_ORDER: Record<RunStatus, number> = {
  running: 0,
  paused: 1,
  queued: 2,
  failed: 3,
  interrupted: 4,
  cancelled: 5,
  completed: 6,
};

/** Seconds the run has run: to its end, else to now (0 before it started). */
export function duration(r: RunOut, now: number): number {
  const start = r.started_at ?? r.created_at;
  const end = r.ended_at ?? (r.status === "running" || r.status === "paused" ? now : (r.heartbeat_at ?? start));
  return Math.max(0, end - start);
}

/** Lower-cased text a filter term is matched against. */
function haystack(r: RunOut): string {
  return `${r.name}\n${r.id}\n${r.project}\n${r.status}\n${r.tags.join("\n")}`.toLowerCase();
}

const hayCache = new WeakMap<RunOut, string>();
function hay(r: RunOut): string {
  let h = hayCache.get(r);
  if (h === undefined) hayCache.set(r, (h = haystack(r)));
  return h;
}

/** Every whitespace-separated term must occur in the name, id, project, status or a tag. */
export function matches(r: RunOut, filter: string): boolean {
  const terms = filter.toLowerCase().split(/\s+/).filter(Boolean);
  if (!terms.length) return true;
  const h = hay(r);
  return terms.every((t) => h.includes(t));
}

export function compareRuns(a: RunOut, b: RunOut, key: SortKey, now: number): number {
  let d = 0;
  switch (key) {
    case "created":
      d = a.created_at - b.created_at;
      break;
    case "name":
      d = a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
      break;
    case "status":
      d = STATUS_ORDER[a.status] - STATUS_ORDER[b.status];
      break;
    case "duration":
      d = duration(a, now) - duration(b, now);
      break;
  }
  if (d === 0) d = a.created_at - b.created_at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  return d;
}

/** The runs shown, in order. */
export function viewRuns(runs: Iterable<RunOut>, ui: ViewUi, now: number): RunOut[] {
  const out: RunOut[] = [];
  const terms = ui.filter.trim();
  for (const r of runs) if (!terms || matches(r, terms)) out.push(r);
  // Decorate-sort: one key per run (not per comparison), then compare plain values.
  const sign = ui.desc ? -1 : 1;
  const n = out.length;
  const created = new Float64Array(n);
  for (let i = 0; i < n; i++) created[i] = out[i]!.created_at;
  let primary: (i: number, j: number) => number;
  if (ui.sort === "name") {
    const names = out.map((r) => r.name);
    primary = (i, j) => (names[i]! < names[j]! ? -1 : names[i]! > names[j]! ? 1 : 0);
  } else if (ui.sort === "created") {
    primary = () => 0;
  } else {
    const k = new Float64Array(n);
    for (let i = 0; i < n; i++) k[i] = ui.sort === "status" ? STATUS_ORDER[out[i]!.status] : duration(out[i]!, now);
    primary = (i, j) => k[i]! - k[j]!;
  }
  const order = Array.from({ length: n }, (_, i) => i);
  order.sort((i, j) => {
    const d = primary(i, j) || created[i]! - created[j]! || (out[i]!.id < out[j]!.id ? -1 : out[i]!.id > out[j]!.id ? 1 : 0);
    return sign * d;
  });
  return order.map((i) => out[i]!);
}

let memo: { runs: Map<string, RunOut>; ui: ViewUi; now: number; view: RunOut[] } | null = null;

/**
 * viewRuns, memoised on the runs map and the UI state (both replaced on change). Duration
 * sorting of live runs uses `now`, which is only refreshed when something else changes.
 */
export function viewOf(runs: Map<string, RunOut>, ui: ViewUi, now = Date.now() / 1000): RunOut[] {
  if (memo && memo.runs === runs && memo.ui === ui) return memo.view;
  const view = viewRuns(runs.values(), ui, now);
  memo = { runs, ui, now, view };
  return view;
}

/** The id `delta` rows away from `current` in `view` (the first/last when none). */
export function stepFocus(view: RunOut[], current: string | null, delta: number): string | null {
  if (!view.length) return null;
  const i = current === null ? -1 : view.findIndex((r) => r.id === current);
  if (i < 0) return (delta >= 0 ? view[0] : view[view.length - 1])!.id;
  const j = Math.max(0, Math.min(view.length - 1, i + delta));
  return view[j]!.id;
}

/** Runs per status, for the top bar. */
export function countByStatus(runs: Iterable<RunOut>): Partial<Record<RunStatus, number>> {
  const out: Partial<Record<RunStatus, number>> = {};
  for (const r of runs) out[r.status] = (out[r.status] ?? 0) + 1;
  return out;
}
