// Where a launch runs: the executor (from the server's `/api/executors`), its host and the
// resources it takes, as the builder edits them, checked before the launch is sent. Pure.
// The server checks again (a host that went away, a Slurm time limit it cannot read); this
// side says at once what it can: a host the executor needs, a resource it does not take.
import type { ExecutorOut } from "../api/client";

export type { ExecutorOut };

/** One resource as typed: its key and its value's text. */
export type ResourceRow = [string, string];

/** What the builder edits: the executor's name, the host (null: none / this machine), the resource rows. */
export interface Target {
  executor: string;
  host: string | null;
  rows: ResourceRow[];
}

/** What an older server (no `/api/executors`) offers: this machine. */
export const LOCAL: ExecutorOut = { name: "local", needs_host: false, hosts: [], resources: [] };

/** A hint per known resource (Slurm's), shown as the value's placeholder. */
const HINTS: Record<string, string> = {
  partition: "gpu",
  account: "proj",
  nodes: "1",
  tasks: "2 (ranks)",
  gpus: "1 or a100:2",
  cpus: "4",
  mem: "16G or MB",
  time: "90 or 1:30:00",
};

export function resourceHint(key: string): string {
  return HINTS[key] ?? "";
}

export function findExecutor(list: readonly ExecutorOut[], name: string): ExecutorOut | null {
  return list.find((e) => e.name === name) ?? null;
}

/** The executor a new builder starts with: local when offered, else the first. */
export function defaultExecutor(list: readonly ExecutorOut[]): string {
  return findExecutor(list, "local")?.name ?? list[0]?.name ?? "local";
}

export interface Option {
  value: string;
  label: string;
}

/** The host select: shown when the executor runs on hosts; its options ("" = no host). */
export function hostChoice(ex: ExecutorOut | null, host: string | null): { shown: boolean; options: Option[] } {
  const hosts = ex?.hosts ?? [];
  const shown = !!ex && (ex.needs_host || hosts.length > 0) ? true : host !== null;
  const none: Option = ex?.needs_host ? { value: "", label: hosts.length ? "— pick a host —" : "— no hosts —" } : { value: "", label: "this machine" };
  const options = [none, ...hosts.map((h) => ({ value: h, label: h }))];
  if (host !== null && !hosts.includes(host)) options.push({ value: host, label: `${host} (unknown)` });
  return { shown, options };
}

/** The host to keep when the executor changes: the same one if the new executor offers it;
 *  the only host of an executor that needs one; else none. */
export function hostAfterSwitch(ex: ExecutorOut | null, host: string | null): string | null {
  if (!ex) return null;
  if (host !== null && ex.hosts.includes(host)) return host;
  if (ex.needs_host && ex.hosts.length === 1) return ex.hosts[0]!;
  return null;
}

const NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

/** A resource's text as its value: numbers as numbers (`4` → 4), anything else as text (`16G`, `1:30:00`). */
export function readResourceValue(text: string): string | number {
  const t = text.trim();
  return NUMBER.test(t) ? Number(t) : t;
}

export function formatResourceValue(v: unknown): string {
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return JSON.stringify(v) ?? "";
}

export function rowsFrom(resources: Record<string, unknown>): ResourceRow[] {
  return Object.entries(resources).map(([k, v]) => [k, formatResourceValue(v)]);
}

/** The key a new row starts with: the executor's first resource not given yet ("" when none is left). */
export function nextResourceKey(ex: ExecutorOut | null, rows: readonly ResourceRow[]): string {
  const used = new Set(rows.map((r) => r[0].trim()));
  return ex?.resources.find((k) => !used.has(k)) ?? "";
}

export interface TargetCheck {
  /** Problems with the executor or host (the launch waits for them to be fixed). */
  errors: string[];
  /** Problems of single resource rows, by row index. */
  rowErrors: Map<number, string>;
  /** Resources given to an executor that takes none: not sent (local ignores them). */
  dropped: string[];
  /** The launch body's part: executor, host, resources. */
  body: { executor: string; host: string | null; resources: Record<string, string | number> };
  ok: boolean;
}

/** Check a target against what the server offers, and build what the launch sends. */
export function checkTarget(list: readonly ExecutorOut[], t: Target): TargetCheck {
  const errors: string[] = [];
  const rowErrors = new Map<number, string>();
  const dropped: string[] = [];
  const resources: Record<string, string | number> = {};
  const ex = findExecutor(list, t.executor);
  if (!ex) {
    errors.push(`executor "${t.executor}" is not on this server (it offers ${list.map((e) => e.name).join(", ") || "none"})`);
  } else if (t.host === null) {
    if (ex.needs_host) errors.push(ex.hosts.length ? `${ex.name} needs a host` : `${ex.name} needs a host, and the server has none (traindeck hosts add)`);
  } else if (!ex.hosts.includes(t.host)) {
    errors.push(ex.needs_host || ex.hosts.length ? `host "${t.host}" is not known to the server` : `${ex.name} runs on this machine: it takes no host`);
  }
  const seen = new Set<string>();
  for (const [i, [k, v]] of t.rows.entries()) {
    const key = k.trim();
    const text = v.trim();
    if (!key) {
      if (text) rowErrors.set(i, "name the resource");
      continue;
    }
    if (ex && !ex.resources.length) {
      dropped.push(key);
      continue;
    }
    const problem =
      ex && !ex.resources.includes(key) ? `${ex.name} does not take "${key}" (it takes ${ex.resources.join(", ")})`
      : seen.has(key) ? `"${key}" is given twice`
      : !text ? "a value is needed"
      : null;
    seen.add(key);
    if (problem) rowErrors.set(i, problem);
    else resources[key] = readResourceValue(text);
  }
  return {
    errors,
    rowErrors,
    dropped,
    body: { executor: t.executor, host: t.host, resources },
    ok: !errors.length && !rowErrors.size,
  };
}
