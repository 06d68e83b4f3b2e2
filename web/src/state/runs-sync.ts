// Keeps app.runs current: subscribes to every project over the live socket first (so no
// change is missed), then reads the run list page by page, then applies pushed
// run_update / status_change / run_deleted messages.
//
// A reconnect (or a first ack that came after the wait gave up) reads the whole list
// again: the server replays a project's events after a reconnect, but not the runs
// created, renamed or deleted meanwhile. Runs deleted while a read is in flight are
// remembered, so a page read before the deletion cannot bring them back.
import { api } from "../api/client";
import type { RunOut } from "../api/client";
import type { LiveClient } from "../live/socket";
import type { AppState } from "./app";
import type { Store } from "./store";

const PAGE = 1000;
const ACK_WAIT_MS = 1500;

export function startRunsSync(store: Store<AppState>, live: LiveClient): () => void {
  let stopped = false;
  const pending = new Map<string, RunOut>();
  let flushQueued = false;
  /** Runs deleted since the current read began (their pages may still arrive). */
  const deleted = new Set<string>();
  /** Runs pushed since the current read began (newer than any page of it). */
  const pushed = new Map<string, RunOut>();
  let readGen = 0;
  let reading = false;

  const newer = (old: RunOut | undefined, r: RunOut) => !old || r.seq >= old.seq;

  const flush = () => {
    flushQueued = false;
    if (!pending.size) return;
    store.set((s) => {
      const runs = new Map(s.runs);
      for (const [id, r] of pending) if (newer(runs.get(id), r)) runs.set(id, r);
      pending.clear();
      return { runs };
    });
  };
  const queue = (r: RunOut) => {
    if (reading) pushed.set(r.id, r);
    deleted.delete(r.id); // made again under the same id
    pending.set(r.id, r);
    if (!flushQueued) {
      flushQueued = true;
      // Coalesce bursts (thousands of runs starting) into one render per frame.
      (globalThis.requestAnimationFrame ?? ((f: () => void) => setTimeout(f, 16)))(flush);
    }
  };

  /** Read every page. The first read shows each page as it comes (a fast first paint);
   *  a re-read builds a new list and swaps it in whole (runs deleted meanwhile go). */
  const read = async (replace: boolean) => {
    const gen = ++readGen;
    reading = true;
    deleted.clear();
    pushed.clear();
    const fresh = new Map<string, RunOut>();
    let offset = 0;
    let total = 0;
    for (;;) {
      if (stopped || gen !== readGen) return;
      try {
        const page = await api.get("/api/runs", {
          query: { limit: PAGE, offset, sort: "created_at", order: "desc" },
        });
        if (stopped || gen !== readGen) return;
        total = page.total;
        for (const r of page.runs) if (!deleted.has(r.id)) fresh.set(r.id, r);
        if (!replace) {
          store.set((s) => {
            const runs = new Map(s.runs);
            for (const r of page.runs) {
              if (!deleted.has(r.id) && newer(runs.get(r.id), r)) runs.set(r.id, r);
            }
            return { runs, loaded: true, total, error: null };
          });
        }
        offset += page.runs.length;
        if (page.runs.length < PAGE || offset >= page.total) break;
      } catch (e) {
        store.set({ error: `runs: ${(e as Error).message}`, loaded: true });
        await new Promise((r) => setTimeout(r, 2000));
      }
    }
    reading = false;
    if (replace) {
      for (const [id, r] of pushed) if (!deleted.has(id) && newer(fresh.get(id), r)) fresh.set(id, r);
      store.set((s) => ({
        runs: fresh,
        loaded: true,
        total,
        error: null,
        focused: s.focused && (fresh.has(s.focused) || !s.runs.has(s.focused)) ? s.focused : null,
        compare: s.compare.filter((id) => fresh.has(id) || !s.runs.has(id)),
      }));
    }
  };

  let opens = 0;
  const offs = [
    live.on("run_update", (m) => queue(m.run)),
    live.on("status_change", (m) => {
      const r = pending.get(m.run_id) ?? store.get().runs.get(m.run_id);
      if (r && r.status !== m.new_status) queue({ ...r, status: m.new_status });
    }),
    live.on("run_deleted", (m) => {
      pending.delete(m.run_id);
      pushed.delete(m.run_id);
      if (reading) deleted.add(m.run_id);
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
    live.onState((conn) => {
      store.set({ conn });
      if (conn !== "open") return;
      opens += 1;
      if (opens > 1) void live.ready({ project: "*" }).then(() => {
        if (!stopped) void read(true);
      });
    }),
    live.subscribeProject("*"),
  ];

  const first = async () => {
    // Subscribed first, so nothing changes unseen between the read and the push; but a
    // socket that cannot connect (yet) must not keep the list empty.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const acked = await Promise.race([
      live.ready({ project: "*" }).then(() => true),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ACK_WAIT_MS))),
    ]);
    clearTimeout(timer);
    // Read now; if that was before the ack, read again once it comes.
    if (!acked) void live.ready({ project: "*" }).then(() => {
        if (!stopped) void read(true);
      });
    await read(false);
  };
  void first();

  return () => {
    stopped = true;
    offs.forEach((off) => off());
  };
}
