// The builder's page (`/new`) and what it opens prefilled with. The URL path says which page
// shows: `/new` the builder, anything else the panel grid. "Clone" on a run opens it with
// that run's template, preset, overrides and where it ran (executor, host, resources: from
// its launch_spec), or its config alone.
import type { RunOut } from "../api/client";
import type { Config } from "./overrides";
import { Store } from "../state/store";
import { readLaunchSpec } from "./api";

export const BUILDER_PATH = "/new";

export interface Prefill {
  /** The run it was cloned from. */
  from: string | null;
  template: string | null;
  preset: string | null;
  overrides: string[];
  /** A run's config, to prefill from when there is no launch to copy (template unknown). */
  config: Config | null;
  /** Where it ran (null: the builder's default executor). */
  executor: string | null;
  host: string | null;
  resources: Record<string, unknown>;
}

export interface BuilderRoute {
  page: "grid" | "new";
  prefill: Prefill | null;
  /** Bumped on every open, so opening twice with the same prefill applies it again. */
  seq: number;
}

function pageOf(pathname: string): BuilderRoute["page"] {
  return pathname.replace(/\/+$/, "") === BUILDER_PATH ? "new" : "grid";
}

export const builderRoute = new Store<BuilderRoute>({
  page: typeof window === "undefined" ? "grid" : pageOf(window.location.pathname),
  prefill: null,
  seq: 0,
});

/** A run → what the builder opens with when it is cloned. */
export function prefillFromRun(run: Pick<RunOut, "id" | "config" | "launch_spec">): Prefill {
  const spec = readLaunchSpec(run.launch_spec);
  if (spec?.template) {
    return {
      from: run.id, template: spec.template, preset: spec.preset, overrides: spec.overrides, config: null,
      executor: spec.executor, host: spec.host, resources: spec.resources,
    };
  }
  return { from: run.id, template: null, preset: null, overrides: [], config: run.config, executor: null, host: null, resources: {} };
}

/** Show the builder (pushing `/new` onto the history), optionally prefilled. */
export function openBuilder(prefill: Prefill | null = null): void {
  if (window.location.pathname !== BUILDER_PATH) {
    const q = new URLSearchParams(window.location.search);
    const keep = q.get("run");
    window.history.pushState(window.history.state, "", BUILDER_PATH + (keep ? `?run=${encodeURIComponent(keep)}` : ""));
  }
  builderRoute.set((s) => ({ page: "new", prefill, seq: s.seq + 1 }));
}

/** Back to the grid (`/`), keeping the query (the open run). */
export function closeBuilder(runId: string | null = null): void {
  const q = new URLSearchParams(window.location.search);
  if (runId) q.set("run", runId);
  const qs = q.toString();
  window.history.pushState(window.history.state, "", `/${qs ? `?${qs}` : ""}`);
  builderRoute.set({ page: "grid" });
}

/** Follow the browser's back and forward buttons. */
export function followHistory(): () => void {
  const on = () => builderRoute.set({ page: pageOf(window.location.pathname) });
  window.addEventListener("popstate", on);
  return () => window.removeEventListener("popstate", on);
}
