// Keeps app.runs current: subscribes to every project over the live socket first (so no
// change is missed), then reads the run list page by page, then applies pushed
// run_update / status_change / run_deleted messages.
import { api } from "../api/client";
import type { RunOut } from "../api/client";
import type { LiveClient } from "../live/socket";
import type { AppState } from "./app";
import type { Store } from "./store";

const PAGE = 1000;

export function startRunsSync(store: Store<AppState>, live: LiveClient): () => void {
  let stopped = false;
  const pending = new Map<string, RunOut>();
  let flushQueued = false;

  const flush = () => {
    flushQueued = false;
    if (!pending.size) return;
    store.set((s) => {
      const runs = new Map(s.runs);
      for (const [id, r] of pending) {
        const old = runs.get(id);
        if (!old || r.seq >= old.seq) runs.set(id, r);
      }
      pending.clear();
      return { runs };
    });
  };
  const queue = (r: RunOut) => {
    pending.set(r.id, r);
    if (!flushQueued) {
      flushQueued = true;
      // Coalesce bursts (thousands of runs starting) into one render per frame.
      (globalThis.requestAnimationFrame ?? ((f: () => void) => setTimeout(f, 16)))(flush);
    }
  };

  const offs = [
    live.on("run_update", (m) => queue(m.run)),
    live.on("status_change", (m) => {
      const r = pending.get(m.run_id) ?? store.get().runs.get(m.run_id);
      if (r && r.status !== m.new_status) queue({ ...r, status: m.new_status });
    }),
    live.on("run_deleted", (m) => {
      pending.delete(m.run_id);
      store.set((s) => {
        if (!s.runs.has(m.run_id)) return {};
        const runs = new Map(s.runs);
        runs.delete(m.run_id);
        return {
          runs,
          focused: s.focused === m.run_id ? null : s.focused,
          compare: s.compare.filter((x) => x !== m.run_id),
        };
      });
    }),
    live.onState((conn) => store.set({ conn })),
    live.subscribeProject("*"),
  ];

  const load = async () => {
    // Subscribed first, so nothing changes unseen between the read and the push; but a
    // socket that cannot connect (yet) must not keep the list empty.
    await Promise.race([live.ready({ project: "*" }), new Promise((r) => setTimeout(r, 1500))]);
    let offset = 0;
    for (;;) {
      if (stopped) return;
      try {
        const page = await api.get("/api/runs", { query: { limit: PAGE, offset, sort: "created_at", order: "desc" } });
        store.set((s) => {
          const runs = new Map(s.runs);
          for (const r of page.runs) {
            const old = runs.get(r.id);
            if (!old || r.seq >= old.seq) runs.set(r.id, r);
          }
          return { runs, loaded: true, total: page.total, error: null };
        });
        offset += page.runs.length;
        if (page.runs.length < PAGE || offset >= page.total) return;
      } catch (e) {
        store.set({ error: `runs: ${(e as Error).message}`, loaded: true });
        await new Promise((r) => setTimeout(r, 2000));
      }
    }
  };
  void load();

  return () => {
    stopped = true;
    offs.forEach((off) => off());
  };
}
