// Keeps the alerts store current: the recent alerts over REST on start, then the live
// `alert` messages every client gets (no subscription needed), and on a reconnect what
// came meanwhile (GET /api/alerts?after_seq=). A live alert while the tab is hidden
// becomes a browser notification when the user allowed them.
import { ApiError, queryString } from "../api/client";
import type { LiveClient } from "../live/socket";
import type { Store } from "../state/store";
import { createAlertsStore, loadSeen, mergeAlerts, notificationOf, shouldNotify, type AlertOut, type AlertsState } from "./alerts-model";

const storage = typeof localStorage !== "undefined" ? localStorage : null;

/** The alerts of this page (the top bar's badge and the alerts panel read it). */
export const alerts = createAlertsStore(loadSeen(storage));
export const alertsStorage = storage;

/** A JSON call to a route the generated client does not know yet (rules, webhooks, alerts). */
export async function jsonCall<T>(method: string, path: string, opts: { query?: Record<string, unknown>; body?: unknown; signal?: AbortSignal } = {}): Promise<T> {
  const init: RequestInit = { method, credentials: "same-origin", headers: { accept: "application/json" } };
  if (opts.signal) init.signal = opts.signal;
  if (opts.body !== undefined) {
    init.body = JSON.stringify(opts.body);
    init.headers = { accept: "application/json", "content-type": "application/json" };
  }
  const res = await fetch(path + queryString(opts.query), init);
  if (!res.ok) {
    let code = `http_${res.status}`;
    let message = res.statusText || `HTTP ${res.status}`;
    try {
      const data = (await res.json()) as { error?: { code?: string; message?: string } };
      if (data.error?.code) code = data.error.code;
      if (data.error?.message) message = data.error.message;
    } catch {
      /* not JSON */
    }
    throw new ApiError(res.status, code, message);
  }
  if (res.status === 204) return null as T;
  return (await res.json()) as T;
}

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

type AnyOn = (type: string, fn: (m: unknown) => void) => () => void;

export function startAlertsSync(store: Store<AlertsState>, live: LiveClient, notifier: Notifier = browserNotifier()): () => void {
  let stopped = false;
  const read = async (after: number | null) => {
    try {
      const query: Record<string, unknown> = { limit: after === null ? 200 : 500 };
      if (after !== null) query.after_seq = after;
      const page = await jsonCall<{ alerts: AlertOut[] }>("GET", "/api/alerts", { query });
      if (stopped) return;
      store.set((s) => ({ list: mergeAlerts(s.list, page.alerts ?? []), loaded: true, error: null }));
    } catch (e) {
      if (stopped) return;
      store.set({ loaded: true, error: `alerts: ${(e as Error).message}` });
    }
  };
  // The generated message types gain `alert` with the rules backend; until then it is
  // listened to by name.
  const on = (live.on as unknown as AnyOn).bind(live);
  const offs = [
    on("alert", (m) => {
      const a = (m as { alert?: AlertOut }).alert;
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
