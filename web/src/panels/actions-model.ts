// Actions panel logic: which buttons a run gets, the commands' state reduced from REST
// and command_update pushes (one entry per id, the newest state by seq wins), the latest
// invocation per name, and parsing of the optional JSON args.
import type { CommandOut, RunOut } from "../api/client";
import { resultSummary } from "../result-format";

/** Built in to every run (the SDK handles them); `checkpoint` is offered by convention. */
export const BUILTIN_COMMANDS = ["stop", "pause", "resume", "checkpoint"] as const;
export const LIVE_STATUSES: ReadonlyArray<RunOut["status"]> = ["running", "paused"];

export type CommandMap = ReadonlyMap<string, CommandOut>;

/** Apply command states (REST list or pushes); keeps, per id, the one with the highest seq. */
export function reduceCommands(map: CommandMap, updates: CommandOut[]): CommandMap {
  let out: Map<string, CommandOut> | null = null;
  for (const c of updates) {
    const old = (out ?? map).get(c.id);
    if (old && old.seq > c.seq) continue;
    if (old && old.seq === c.seq && old.status === c.status) continue;
    if (!out) out = new Map(map);
    out.set(c.id, c);
  }
  return out ?? map;
}

const newer = (a: CommandOut, b: CommandOut) => b.created_at - a.created_at || b.seq - a.seq;

/** The latest invocation of each command name. */
export function latestByName(map: CommandMap): Map<string, CommandOut> {
  const out = new Map<string, CommandOut>();
  for (const c of map.values()) {
    const cur = out.get(c.name);
    if (!cur || newer(c, cur) < 0) out.set(c.name, c);
  }
  return out;
}

/** Newest first, at most `n`. */
export function history(map: CommandMap, n = 12): CommandOut[] {
  return [...map.values()].sort(newer).slice(0, n);
}

/** The custom commands of a run: what it offers beyond the built-ins, in its order. */
export function customCommands(run: Pick<RunOut, "commands_offered"> | null | undefined): string[] {
  if (!run) return [];
  const builtin = new Set<string>(BUILTIN_COMMANDS);
  return run.commands_offered.filter((n, i, a) => !builtin.has(n) && a.indexOf(n) === i);
}

/** Whether a button applies now. */
export function commandEnabled(name: string, status: RunOut["status"] | undefined): boolean {
  if (!status || !LIVE_STATUSES.includes(status)) return false;
  if (name === "pause") return status === "running";
  if (name === "resume") return status === "paused";
  return true;
}

export type ParsedArgs = { ok: true; args: Record<string, unknown> } | { ok: false; error: string };

/** The args input: empty → {}, else a JSON object. */
export function parseArgs(text: string): ParsedArgs {
  const t = text.trim();
  if (!t) return { ok: true, args: {} };
  let v: unknown;
  try {
    v = JSON.parse(t);
  } catch (e) {
    return { ok: false, error: `args: invalid JSON (${(e as Error).message})` };
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) {
    return { ok: false, error: 'args: a JSON object, e.g. {"n": 4}' };
  }
  return { ok: true, args: v as Record<string, unknown> };
}

/** The text of a command's state: `done val_acc 0.91 · step 120`, `failed: boom`, `pending`
 *  (a result is summed up with its numbers rounded, never shown as raw JSON). */
export function describeCommand(c: Pick<CommandOut, "status" | "result" | "error">): string {
  let s: string = c.status;
  if (c.result !== null && c.result !== undefined) s += ` ${resultSummary(c.result, 200)}`;
  if (c.error) s += `: ${c.error}`;
  return s;
}

export function statusClass(status: CommandOut["status"] | "error"): string {
  switch (status) {
    case "done":
      return "good";
    case "failed":
    case "expired":
    case "error":
      return "bad";
    default:
      return "dim";
  }
}

/** How pause/resume reach a run: a run traindeck launched goes through the launcher's
 *  routes (`POST /api/runs/{id}/pause|resume`: the SDK's command when the script offers
 *  it, else SIGSTOP/SIGCONT of its process group); any other run gets the SDK command. */
export function controlVia(name: string, run: Pick<RunOut, "launch_spec"> | null | undefined): "route" | "command" {
  return (name === "pause" || name === "resume") && !!run && run.launch_spec !== null ? "route" : "command";
}

/** What the state cell says after a pause/resume route answered with the run. */
export function controlText(name: string, run: Pick<RunOut, "status" | "commands_offered">): string {
  const how = run.commands_offered.includes(name) ? "command sent" : name === "pause" ? "SIGSTOP sent" : "SIGCONT sent";
  return `${how} · ${run.status}`;
}
