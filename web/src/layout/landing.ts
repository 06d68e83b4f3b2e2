// The landing page (issue 12 §5): opening the dashboard with live runs shows one at once.
// With no run named in the URL, once the run list is in, the most recently started live
// run is opened (running before paused); with none live, nothing is.
import type { RunOut } from "../api/client";
import type { AppState } from "../state/app";
import type { Store } from "../state/store";

type LandingRun = Pick<RunOut, "id" | "status" | "created_at" | "started_at">;

/** The run to open on landing: the live run started last (running ones first), or null. */
export function landingRun(runs: Iterable<LandingRun>): string | null {
  let best: LandingRun | null = null;
  const rank = (r: LandingRun) => (r.status === "running" ? 1 : 0);
  const at = (r: LandingRun) => r.started_at ?? r.created_at;
  for (const r of runs) {
    if (r.status !== "running" && r.status !== "paused") continue;
    if (!best || rank(r) > rank(best) || (rank(r) === rank(best) && (at(r) > at(best) || (at(r) === at(best) && r.id > best.id)))) best = r;
  }
  return best?.id ?? null;
}

/** Whether the landing choice applies: no run or comparison in the URL, none chosen yet. */
export function landingApplies(search: string, s: Pick<AppState, "focused" | "compare">): boolean {
  const p = new URLSearchParams(search);
  return !p.has("run") && !p.has("compare") && s.focused === null && s.compare.length === 0;
}

/** Once the first page of runs is in: open the landing run if it applies. Returns the stop function. */
export function startLanding(store: Store<AppState>, search: string): () => void {
  if (!landingApplies(search, store.get())) return () => {};
  let done = false;
  const check = () => {
    if (done) return;
    const s = store.get();
    if (!s.loaded) return;
    done = true;
    off();
    if (!landingApplies(search, s)) return; // the user chose meanwhile
    const id = landingRun(s.runs.values());
    if (id) store.set({ focused: id });
  };
  const off = store.subscribe(check);
  check();
  return () => {
    done = true;
    off();
  };
}
