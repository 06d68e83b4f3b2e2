// Alerts (issue 12 §4): the recent alerts of every run (GET /api/alerts, then live `alert`
// messages every client gets), which of them the user has seen (the newest seq seen is
// remembered per browser), and when a browser notification is due. Pure functions plus
// one store the top bar badge and the alerts panel share.
import { Store } from "../state/store";

export type Severity = "info" | "warning" | "error";

/** One alert as GET /api/alerts and the WS `alert` message carry it (contract C). */
export interface AlertOut {
  seq: number;
  run_id: string;
  run_name?: string | null;
  project?: string | null;
  time: number;
  rule_id?: string | null;
  kind: string;
  key?: string | null;
  severity?: Severity | string | null;
  title?: string | null;
  text?: string | null;
  step?: number | null;
  value?: number | string | null;
}

export const ALERT_CAP = 500;
export const SEEN_KEY = "traindeck.alerts.seen.v1";

/** Newest first by seq, no duplicates, at most `cap`. Returns `list` itself when nothing changed. */
export function mergeAlerts(list: AlertOut[], incoming: AlertOut[], cap = ALERT_CAP): AlertOut[] {
  if (!incoming.length) return list;
  const seen = new Set(list.map((a) => a.seq));
  const fresh = incoming.filter((a) => {
    if (typeof a?.seq !== "number" || seen.has(a.seq)) return false;
    seen.add(a.seq);
    return true;
  });
  if (!fresh.length) return list;
  const out = list.concat(fresh).sort((a, b) => b.seq - a.seq);
  return out.length > cap ? out.slice(0, cap) : out;
}

/** Alerts newer than the newest one seen. */
export function unseenCount(list: readonly AlertOut[], seenSeq: number): number {
  let n = 0;
  for (const a of list) if (a.seq > seenSeq) n += 1;
  return n;
}

/** The badge's text: "", "3", …, "99+". */
export function badgeText(n: number): string {
  if (n <= 0) return "";
  return n > 99 ? "99+" : String(n);
}

/** The highest severity among the unseen alerts (colours the badge). */
export function worstUnseen(list: readonly AlertOut[], seenSeq: number): Severity | null {
  let worst: Severity | null = null;
  for (const a of list) {
    if (a.seq <= seenSeq) continue;
    const s = normSeverity(a.severity);
    if (s === "error") return "error";
    if (s === "warning" || worst === null) worst = s;
  }
  return worst;
}

export function normSeverity(s: unknown): Severity {
  return s === "error" || s === "info" ? s : "warning";
}

/** Whether a live alert becomes a browser notification: only when the tab is hidden and
 *  the user allowed notifications (alerts read over REST on load never notify). */
export function shouldNotify(opts: { hidden: boolean; permission: string | null; live: boolean }): boolean {
  return opts.live && opts.hidden && opts.permission === "granted";
}

/** The notification's title and body. */
export function notificationOf(a: AlertOut): { title: string; body: string; tag: string } {
  const sev = normSeverity(a.severity);
  const run = a.run_name || a.run_id;
  const title = `${sev === "error" ? "✗" : sev === "warning" ? "▲" : "●"} ${alertTitle(a)} — ${run}`;
  return { title, body: alertDetail(a), tag: `traindeck-alert-${a.seq}` };
}

/** What fired: the title, else "<kind> <key>". */
export function alertTitle(a: Pick<AlertOut, "title" | "kind" | "key">): string {
  if (a.title) return a.title;
  return [a.kind, a.key].filter(Boolean).join(" ");
}

/** The text, then the key's value at its step when known. */
export function alertDetail(a: Pick<AlertOut, "text" | "key" | "value" | "step">): string {
  const parts: string[] = [];
  if (a.text) parts.push(a.text);
  const at = a.step !== null && a.step !== undefined ? ` at step ${a.step}` : "";
  if (a.value !== null && a.value !== undefined) parts.push(`${a.key ?? "value"} = ${String(a.value)}${at}`);
  else if (at) parts.push(at.trim());
  return parts.join(" · ");
}

/** Reads the remembered seq (0 when none or unreadable). */
export function loadSeen(storage: Pick<Storage, "getItem"> | null): number {
  try {
    const v = Number(storage?.getItem(SEEN_KEY) ?? 0);
    return Number.isFinite(v) && v > 0 ? v : 0;
  } catch {
    return 0;
  }
}

export function saveSeen(storage: Pick<Storage, "setItem"> | null, seq: number): void {
  try {
    storage?.setItem(SEEN_KEY, String(seq));
  } catch {
    /* blocked: not remembered */
  }
}

export interface AlertsState {
  list: AlertOut[];
  /** The newest seq the user has seen. */
  seenSeq: number;
  loaded: boolean;
  error: string | null;
}

export function createAlertsStore(seenSeq = 0): Store<AlertsState> {
  return new Store<AlertsState>({ list: [], seenSeq, loaded: false, error: null });
}

/** Mark everything shown as seen (the seq only grows). */
export function markSeen(store: Store<AlertsState>, storage: Pick<Storage, "setItem"> | null): void {
  const s = store.get();
  const top = s.list[0]?.seq ?? 0;
  if (top <= s.seenSeq) return;
  store.set({ seenSeq: top });
  saveSeen(storage, top);
}
