// Keeps the alerts store current: the recent alerts over REST on start, then the live
// `alert` messages every client gets (no subscription needed), and on a reconnect what
// came meanwhile (GET /api/alerts?after_seq=). A live alert while the tab is hidden
// becomes a browser notification when the user allowed them.
import { api } from "../api/client";
import type { LiveClient } from "../live/socket";
import type { Store } from "../state/store";
import { createAlertsStore, loadSeen, mergeAlerts, notificationOf, shouldNotify, type AlertOut, type AlertsState } from "./alerts-model";

const storage = typeof localStorage !== "undefined" ? localStorage : null;

/** The alerts of this page (the top bar's badge and the alerts panel read it). */
export const alerts = createAlertsStore(loadSeen(storage));
export const alertsStorage = storage;

export interface Notifier {
  hidden: () => boolean;
  permission: () => string | null;
  show: (title: string, body: string, tag: string) => void;
}

export function browserNotifier(): Notifier {
  const N = typeof Notification !== "undefined" ? Notification : null;
  return {
    hidden: () => typeof document !== "undefined" && document.visibilityState === "hidden",
    permission: () => N?.permission ?? null,
    show: (title, body, tag) => {
      try {
        if (N) new N(title, { body, tag });
      } catch {
        /* some browsers only notify from a service worker: nothing to do */
      }
    },
  };
}

/** Ask for notification permission (must run in a click handler). */
export async function askNotifications(): Promise<string> {
  if (typeof Notification === "undefined") return "unsupported";
  if (Notification.permission !== "default") return Notification.permission;
  return Notification.requestPermission();
}

export function startAlertsSync(store: Store<AlertsState>, live: LiveClient, notifier: Notifier = browserNotifier()): () => void {
  let stopped = false;
  const read = async (after: number | null) => {
    try {
      const page = await api.get("/api/alerts", { query: after === null ? { limit: 200 } : { limit: 500, after_seq: after } });
      if (stopped) return;
      store.set((s) => ({ list: mergeAlerts(s.list, page.alerts ?? []), loaded: true, error: null }));
    } catch (e) {
      if (stopped) return;
      store.set({ loaded: true, error: `alerts: ${(e as Error).message}` });
    }
  };
  const offs = [
    live.on("alert", (m) => {
      const a: AlertOut = m.alert;
      if (!a || typeof a.seq !== "number") return;
      const before = store.get().list;
      store.set((s) => ({ list: mergeAlerts(s.list, [a]) }));
      if (store.get().list === before) return; // a duplicate
      if (shouldNotify({ live: true, hidden: notifier.hidden(), permission: notifier.permission() })) {
        const n = notificationOf(a);
        notifier.show(n.title, n.body, n.tag);
      }
    }),
    // Each (re)open reads what came since the newest held: nothing falls between the
    // first read and the socket, or into a disconnection (merging drops duplicates).
    live.onState((conn) => {
      if (conn === "open") void read(store.get().loaded ? (store.get().list[0]?.seq ?? 0) : null);
    }),
  ];
  void read(null);
  return () => {
    stopped = true;
    offs.forEach((off) => off());
  };
}
