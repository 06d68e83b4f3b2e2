// Events panel logic: one-line summaries of event payloads, colour classes, and a capped,
// newest-first merge of REST pages and live pushes (no holes, no duplicates by run+seq).
import type { EventOut } from "../api/client";
import { resultSummary } from "../result-format";

export const EVENT_CAP = 2000;

/** Compact JSON for one line (long values cut with …). */
export function compactJson(v: unknown, max = 120): string {
  let s: string;
  try {
    s = typeof v === "string" ? JSON.stringify(v) : (JSON.stringify(v) ?? String(v));
  } catch {
    s = String(v);
  }
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

const str = (v: unknown): string => (v === null || v === undefined ? "" : String(v));

/** A one-line human summary of an event's payload. */
export function summarizeEvent(e: Pick<EventOut, "kind" | "payload">): string {
  const p = e.payload ?? {};
  switch (e.kind) {
    case "status_change": {
      const from = p.old_status ? `${str(p.old_status)} → ` : "";
      const why = p.reason ? ` (${str(p.reason)})` : "";
      return `status ${from}${str(p.new_status)}${why}`;
    }
    case "command": {
      let s = `command ${str(p.name)} → ${str(p.status)}`;
      if (p.result !== undefined && p.result !== null) s += ` ${resultSummary(p.result, 120)}`;
      if (p.error) s += `: ${str(p.error)}`;
      return s;
    }
    case "checkpoint_saved": {
      const best = p.is_best || p.kind === "best" ? " (best)" : "";
      const kind = p.kind && p.kind !== "regular" && p.kind !== "best" ? ` ${str(p.kind)}` : "";
      return `checkpoint${kind} step ${str(p.step)}${best}`;
    }
    case "checkpoint_best":
      return `checkpoint step ${str(p.step)} marked best`;
    case "checkpoint_verified":
      return `checkpoint step ${str(p.step)} ${p.valid ? "valid" : "INVALID"}${p.reason ? `: ${str(p.reason)}` : ""}`;
    case "checkpoint_deleted":
      return `checkpoint step ${str(p.step)} deleted${p.reason ? ` (${str(p.reason)})` : ""}`;
    case "media_logged":
      return `${str(p.key)} step ${str(p.step)}${p.caption ? ` "${str(p.caption)}"` : ""}`;
    case "signal":
      return `signal ${str(p.signal)}`;
    case "error":
      return `error ${str(p.error).split("\n")[0]}`;
    case "alert": {
      // issue 12: a rule's firing or the SDK's run.alert
      const what = p.title ? str(p.title) : [str(p.kind), str(p.key)].filter(Boolean).join(" ");
      const text = p.text ? ` — ${str(p.text)}` : "";
      const at = p.value !== undefined && p.value !== null ? ` (${str(p.key) || "value"} = ${str(p.value)}${p.step !== undefined && p.step !== null ? ` at step ${str(p.step)}` : ""})` : "";
      return `${alertGlyph(p.severity)} ${what}${text}${at}`;
    }
    default: {
      const keys = Object.keys(p);
      return keys.length ? `${e.kind} ${compactJson(p)}` : e.kind;
    }
  }
}

const STATUS_CLASS: Record<string, string> = {
  running: "good",
  completed: "info",
  failed: "bad",
  interrupted: "warn",
  paused: "warn",
  queued: "dim",
  cancelled: "muted",
};

/** The colour class of an event row (theme.css utility classes). */
export function eventClass(e: Pick<EventOut, "kind" | "payload">): string {
  const p = e.payload ?? {};
  switch (e.kind) {
    case "status_change":
      return STATUS_CLASS[str(p.new_status)] ?? "";
    case "command":
      if (p.status === "done") return "good";
      if (p.status === "failed" || p.status === "expired") return "bad";
      return "dim";
    case "checkpoint_saved":
    case "checkpoint_best":
    case "checkpoint_deleted":
      return "info";
    case "checkpoint_verified":
      return p.valid ? "info" : "bad";
    case "error":
      return "bad";
    case "signal":
      return "warn";
    case "alert":
      return p.severity === "error" ? "bad ev-alert" : p.severity === "info" ? "info ev-alert" : "warn ev-alert";
    default:
      return "";
  }
}

/** ✗ error, ▲ warning (the default), ● info. */
export function alertGlyph(severity: unknown): string {
  return severity === "error" ? "✗" : severity === "info" ? "●" : "▲";
}

const KIND_LABEL: Record<string, string> = {
  alert: "▲ ALERT",
  status_change: "status",
  checkpoint_saved: "ckpt saved",
  checkpoint_best: "ckpt best",
  checkpoint_verified: "ckpt verified",
  checkpoint_deleted: "ckpt deleted",
  media_logged: "image",
};

/** A short label for a kind (the row keeps the exact kind in data-kind and its title). */
export function kindLabel(kind: string): string {
  return KIND_LABEL[kind] ?? kind;
}

export const eventKey = (e: Pick<EventOut, "run_id" | "seq">): string => `${e.run_id}:${e.seq}`;

/**
 * Merge events into a newest-first list (by seq, ties by run), dropping duplicates and
 * keeping at most `cap`. Returns `list` itself when nothing changed.
 */
export function mergeEvents(list: EventOut[], incoming: EventOut[], cap = EVENT_CAP): EventOut[] {
  if (!incoming.length) return list;
  const seen = new Set(list.map(eventKey));
  const fresh: EventOut[] = [];
  for (const e of incoming) {
    const k = eventKey(e);
    if (seen.has(k)) continue;
    seen.add(k);
    fresh.push(e);
  }
  if (!fresh.length) return list;
  const newestFirst = (a: EventOut, b: EventOut) => b.seq - a.seq || (a.run_id < b.run_id ? 1 : a.run_id > b.run_id ? -1 : 0);
  fresh.sort(newestFirst);
  let out: EventOut[];
  const head = list[0];
  const lastFresh = fresh[fresh.length - 1]!;
  if (!head || newestFirst(lastFresh, head) < 0) out = fresh.concat(list); // the common case: all newer
  else out = list.concat(fresh).sort(newestFirst);
  return out.length > cap ? out.slice(0, cap) : out;
}

/** The kinds present, sorted, for the filter. */
export function eventKinds(list: EventOut[], always: string[] = []): string[] {
  const s = new Set(always);
  for (const e of list) s.add(e.kind);
  return [...s].sort();
}
