// Checkpoints panel logic: sorting (by step, size, created or a metric), formatting
// (sizes, ages, metrics) and applying live events to the list.
import type { CheckpointOut } from "../api/client";

export type SortCol = "step" | "size" | "created" | "kind" | `m:${string}`;
export interface SortSpec {
  col: SortCol;
  desc: boolean;
}
export const DEFAULT_SORT: SortSpec = { col: "step", desc: true };

function metricNum(v: unknown): number | null {
  if (typeof v === "number") return v;
  if (v === "NaN") return Number.NaN;
  if (v === "Infinity") return Number.POSITIVE_INFINITY;
  if (v === "-Infinity") return Number.NEGATIVE_INFINITY;
  return null;
}

function sortValue(c: CheckpointOut, col: SortCol): number | string | null {
  switch (col) {
    case "step":
      return c.step;
    case "size":
      return c.size;
    case "created":
      return c.created_at;
    case "kind":
      return c.kind;
    default: {
      const v = c.metrics[col.slice(2)];
      const n = metricNum(v);
      if (n !== null) return Number.isNaN(n) ? null : n;
      return v === undefined || v === null ? null : String(v);
    }
  }
}

/** A sorted copy; missing values always last; ties by step then id (stable, deterministic). */
export function sortCheckpoints(list: CheckpointOut[], spec: SortSpec): CheckpointOut[] {
  const dir = spec.desc ? -1 : 1;
  return [...list].sort((a, b) => {
    const va = sortValue(a, spec.col);
    const vb = sortValue(b, spec.col);
    if (va === null && vb !== null) return 1;
    if (vb === null && va !== null) return -1;
    if (va !== null && vb !== null && va !== vb) {
      if (typeof va === "number" && typeof vb === "number") return (va - vb) * dir;
      return String(va) < String(vb) ? -dir : dir;
    }
    return (b.step - a.step) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  });
}

/** Clicking a header: the same column flips, a new one starts descending. */
export function nextSort(cur: SortSpec, col: SortCol): SortSpec {
  return cur.col === col ? { col, desc: !cur.desc } : { col, desc: true };
}

/** Metric names across the checkpoints (numeric ones first, then the rest), at most `max`. */
export function metricColumns(list: CheckpointOut[], max = 4): string[] {
  const count = new Map<string, number>();
  for (const c of list) for (const k of Object.keys(c.metrics)) count.set(k, (count.get(k) ?? 0) + 1);
  return [...count.entries()]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, max)
    .map(([k]) => k);
}

export function validMark(v: boolean | null): string {
  return v === null ? "?" : v ? "✓" : "✗";
}

/** Insert or replace by id. */
export function upsertCheckpoint(list: CheckpointOut[], c: CheckpointOut): CheckpointOut[] {
  const i = list.findIndex((x) => x.id === c.id);
  let out: CheckpointOut[];
  if (i < 0) out = [...list, c];
  else out = list.map((x, j) => (j === i ? c : x));
  // One best per run: a row that is best clears the others.
  if (c.is_best) out = out.map((x) => (x.id !== c.id && x.is_best && x.run_id === c.run_id ? { ...x, is_best: false } : x));
  return out;
}

/** Apply a checkpoint_* event (from `event` pushes) to the list. */
export function applyCheckpointEvent(list: CheckpointOut[], kind: string, payload: Record<string, unknown>): CheckpointOut[] {
  const id = typeof payload.id === "string" ? payload.id : null;
  switch (kind) {
    case "checkpoint_saved":
      return id ? upsertCheckpoint(list, payload as unknown as CheckpointOut) : list;
    case "checkpoint_deleted":
      return id && list.some((x) => x.id === id) ? list.filter((x) => x.id !== id) : list;
    case "checkpoint_best":
      if (!id || !list.some((x) => x.id === id)) return list;
      return list.map((x) => (x.id === id ? (x.is_best ? x : { ...x, is_best: true }) : x.is_best ? { ...x, is_best: false } : x));
    case "checkpoint_verified":
      if (!id) return list;
      return list.map((x) => (x.id === id ? { ...x, valid: Boolean(payload.valid) } : x));
    default:
      return list;
  }
}
